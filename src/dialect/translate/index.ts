/** Translation between the OpenAI chat-completions and Anthropic Messages dialects (docs/translation.md). */
export { chatToMessagesRequest, type ChatToMessagesOptions } from './chat-to-messages.js';
export { translateErrorBody } from './errors.js';
export { messagesToChatRequest } from './messages-to-chat.js';
export { chatResponseToMessages, messagesResponseToChat } from './replies.js';
export { ChatToMessagesStream, MessagesToChatStream, type StreamTransducer } from './streams.js';
export { type TranslationConfig, translationConfigSchema } from './config.js';
