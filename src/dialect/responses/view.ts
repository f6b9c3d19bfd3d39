/**
 * A Responses request seen as a chat completions body, for reading only (token counts): unlike
 * the translation in request.ts it never refuses, it keeps what chat can show and skips the
 * rest (built-in tools, file inputs), so a count is possible for any valid request.
 */

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function responsesAsChatView(body: Readonly<Json>): Json {
  const messages: Json[] = [];
  if (typeof body.instructions === 'string' && body.instructions !== '')
    messages.push({ role: 'system', content: body.instructions });
  const input = body.input;
  if (typeof input === 'string') messages.push({ role: 'user', content: input });
  else if (Array.isArray(input)) {
    let assistant: Json | undefined;
    for (const item of input) {
      if (!isRecord(item)) continue;
      const type = item.type ?? 'message';
      if (type === 'message') {
        assistant = {
          role: item.role === 'developer' ? 'system' : item.role,
          content: viewContent(item.content),
        };
        messages.push(assistant);
        if (item.role !== 'assistant') assistant = undefined;
      } else if (type === 'function_call') {
        if (!assistant) {
          assistant = { role: 'assistant', content: null };
          messages.push(assistant);
        }
        const call = {
          id: item.call_id,
          type: 'function',
          function: { name: item.name, arguments: item.arguments },
        };
        assistant.tool_calls = [...((assistant.tool_calls as Json[] | undefined) ?? []), call];
      } else if (type === 'function_call_output') {
        assistant = undefined;
        const output = typeof item.output === 'string' ? item.output : viewContent(item.output);
        messages.push({ role: 'tool', tool_call_id: item.call_id, content: output });
      }
    }
  }
  const view: Json = { model: body.model, messages };
  if (Array.isArray(body.tools)) {
    view.tools = body.tools
      .filter((t) => isRecord(t) && t.type === 'function')
      .map((t) => ({
        type: 'function',
        function: { name: t.name, description: t.description, parameters: t.parameters },
      }));
  }
  if (isRecord(body.tool_choice) && body.tool_choice.type === 'function')
    view.tool_choice = { type: 'function', function: { name: body.tool_choice.name } };
  else if (typeof body.tool_choice === 'string') view.tool_choice = body.tool_choice;
  return view;
}

function viewContent(content: unknown): unknown {
  if (!Array.isArray(content)) return content;
  return content.filter(isRecord).map((part) => {
    if (part.type === 'input_text' || part.type === 'output_text') return { type: 'text', text: part.text };
    if (part.type === 'input_image')
      return { type: 'image_url', image_url: { url: part.image_url, detail: part.detail } };
    return part;
  });
}
