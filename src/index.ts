/** Library entry: run the gateway in-process or embed its pieces. */
export { type RunningSluice, type StartOptions, simulatedUpstreams, startSluice } from './app.js';
export { type Config, configSchema, type UpstreamConfig } from './config/index.js';
export { ConfigError, loadConfig, validateConfig } from './config/load.js';
export { type ErrorCode, SluiceError } from './errors.js';
export { Gateway, type GatewayOptions, type InProcessRequest } from './gateway.js';
export type * from './pipeline/types.js';
