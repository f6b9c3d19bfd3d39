import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { cleanEnv, runCli } from './cli-run.js';

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** A stack trace or Node's raw error codes in output mean the CLI failed to explain itself. */
function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /\n\s+at |ERR_PARSE_ARGS|TypeError|EADDRINUSE/);
}

describe('sluice explains itself', () => {
  for (const args of [['--help'], ['-h'], ['help']]) {
    it(`sluice ${args.join(' ')} prints the commands and exits 0`, async () => {
      const run = await runCli(args);
      assert.equal(run.code, 0);
      for (const command of ['serve', 'batch', 'eval-semantic', 'mock-upstream'])
        assert.match(run.stdout, new RegExp(`sluice (\\[)?${command}`));
      assert.match(run.stdout, /npx sluice/);
      assert.equal(run.stderr, '');
    });
  }

  it('sluice --version prints the package version', async () => {
    const run = await runCli(['--version']);
    assert.equal(run.code, 0);
    assert.equal(run.stdout.trim(), `sluice ${VERSION}`);
  });

  const commandFlags: Record<string, RegExp> = {
    serve: /--config FILE[\s\S]*--port N[\s\S]*--simulated/,
    batch: /sluice batch IN\.jsonl -o OUT\.jsonl/,
    'eval-semantic': /--pairs FILE/,
    'mock-upstream': /--latency-ms N/,
  };
  for (const [command, usage] of Object.entries(commandFlags)) {
    for (const flag of ['--help', '-h']) {
      it(`sluice ${command} ${flag} prints the command's usage and exits 0`, async () => {
        const run = await runCli([command, flag]);
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, usage);
        assertNoStack(run.stderr);
      });
    }
  }

  it('sluice help COMMAND is the same as COMMAND --help', async () => {
    const [viaHelp, viaFlag] = await Promise.all([runCli(['help', 'serve']), runCli(['serve', '--help'])]);
    assert.equal(viaHelp.stdout, viaFlag.stdout);
  });

  for (const args of [
    ['serve', '--bogus'],
    ['--prot', '9000'],
    ['mock-upstream', '--colour'],
    ['batch', '--bogus'],
  ]) {
    it(`sluice ${args.join(' ')}: one line naming the option, a hint to --help, exit 2`, async () => {
      const run = await runCli(args);
      assert.equal(run.code, 2);
      const option = args.find((a) => a.startsWith('--'));
      // (batch opens the gateway before reading its flags, so its NOTE line may come first)
      const expected = new RegExp(
        `(^|\\n)sluice \\S+: Unknown option '${option}'\\nrun 'sluice \\S+ --help' for usage\\n$`,
      );
      assert.match(run.stderr, expected);
      assertNoStack(run.stderr);
    });
  }

  it('a bad value is one line too', async () => {
    const run = await runCli(['serve', '--port', 'eighty']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^sluice serve: --port expects a port number from 0 to 65535, got "eighty"\n/);
    assertNoStack(run.stderr);
  });

  it('an unknown command names itself and points to --help', async () => {
    const run = await runCli(['serv']);
    assert.equal(run.code, 2);
    assert.equal(run.stderr, "sluice: unknown command 'serv'\nrun 'sluice --help' for the commands\n");
  });

  it('a port in use is one clear line, not an EADDRINUSE stack', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const serve = await runCli(['serve', '--port', String(port)], cleanEnv());
      assert.equal(serve.code, 1);
      assert.equal(serve.stderr, `port ${port} is in use; pass --port or set port in the config\n`);

      const mock = await runCli(['mock-upstream', '--port', String(port)]);
      assert.equal(mock.code, 1);
      assert.equal(mock.stderr, `port ${port} is in use; pass --port\n`);
    } finally {
      holder.close();
    }
  });
});
