/** What an extra route (outside the pipeline) answers when a bare JSON value with 200 is not enough. */
export class RouteReply {
  constructor(
    readonly body: unknown,
    readonly headers: Readonly<Record<string, string>> = {},
    readonly status = 200,
  ) {}
}
