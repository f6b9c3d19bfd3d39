import { openGateway } from '../app.js';
import { loadConfig } from '../config/load.js';
import type { Gateway } from '../gateway.js';
import type { BatchSend, OpenedBatchGateway } from './cli.js';

/** Lines go through the gateway's whole in-process pipeline, each to the route its line names. */
export function gatewaySender(gateway: Gateway): BatchSend {
  return (body, { headers, target }) => gateway.call(target.dialect, target.route, body, headers);
}

/**
 * The CLI's gateway: the config from `--config` (else SLUICE_CONFIG / the environment), built
 * in this process with the simulated upstream when no provider is configured.
 */
export async function openInProcessGateway(options: {
  configFile?: string;
  say: (line: string) => void;
}): Promise<OpenedBatchGateway> {
  const loaded = loadConfig({ file: options.configFile });
  const opened = await openGateway({
    config: { ...loaded.config, logLevel: 'warn' },
    simulated: loaded.simulated,
  });
  if (loaded.simulated) options.say('NOTE: no provider configured, using the SIMULATED upstream.');
  return { send: gatewaySender(opened.gateway), close: () => opened.close() };
}
