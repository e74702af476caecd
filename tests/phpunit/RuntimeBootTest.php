<?php

declare(strict_types=1);

namespace Hover\Tests;

use PHPUnit\Framework\TestCase;

/**
 * Hover\Runtime::boot(): native init from a manifest. Init happens once per process and
 * changes its environment, so each case boots fixtures/boot.php in a PHP process of its own
 * and reads back its report (stdout) and its log (stderr).
 */
final class RuntimeBootTest extends TestCase
{
    private string $directory;

    protected function setUp(): void
    {
        $this->directory = sys_get_temp_dir() . '/hover-boot-' . bin2hex(random_bytes(4));
        mkdir($this->directory . '/hover_runtime', 0777, true);
    }

    private function writeManifest(array|string $manifest): void
    {
        $json = is_string($manifest) ? $manifest : json_encode($manifest);
        file_put_contents($this->directory . '/hover_runtime/manifest.json', $json);
    }

    /**
     * @param array<string, string|null> $environment null removes a variable
     * @return array{0: array<string, mixed>, 1: string} the report and stderr
     */
    private function boot(string $mode = '', array $environment = []): array
    {
        $environment = array_filter($environment + [
            'PATH' => getenv('PATH'),
            // Nothing listens on port 9 here: init errors are logged, their report fails fast.
            'AWS_LAMBDA_RUNTIME_API' => '127.0.0.1:9',
            'AWS_LAMBDA_FUNCTION_NAME' => 'shop-production-cli',
            'LAMBDA_TASK_ROOT' => $this->directory,
            'HOVER_STORAGE_PATH' => $this->directory . '/storage',
        ], static fn ($value) => $value !== null);
        $extension = dirname(__DIR__, 2) . '/target/release/libhover.so';
        $command = [PHP_BINARY, '-d', "extension={$extension}", __DIR__ . '/fixtures/boot.php', $mode];
        $process = proc_open($command, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $environment);
        $stdout = stream_get_contents($pipes[1]);
        $stderr = stream_get_contents($pipes[2]);
        $this->assertSame(0, proc_close($process), $stdout . $stderr);

        return [json_decode($stdout, true, 512, JSON_THROW_ON_ERROR), $stderr];
    }

    public function testBootReadsTheManifestAndLaysOutStorage(): void
    {
        $this->writeManifest(['name' => 'shop']);
        [$report] = $this->boot();

        $this->assertSame('cli', $report['functionType']);
        $this->assertSame('shop', $report['appName']);
        $this->assertSame($this->directory, $report['taskRoot']);
        $this->assertSame($this->directory . '/hover_runtime', $report['runtimeDir']);
        $this->assertSame($this->directory . '/storage', $report['storagePath']);
        $this->assertTrue($report['shouldCacheConfiguration'], 'no secrets file, so the config is cached');
        $this->assertFalse($report['hasSecrets']);
        $folders = [
            'app/public', 'bootstrap/cache', 'framework/cache/data', 'framework/sessions', 'framework/views', 'logs',
        ];
        foreach ($folders as $folder) {
            $this->assertDirectoryExists("{$this->directory}/storage/{$folder}");
        }
    }

    public function testAGarbledSecretsFileFailsBootWithoutCallingKms(): void
    {
        $this->writeManifest(['name' => 'shop']);
        file_put_contents($this->directory . '/hover_runtime/.env', "DB_PASSWORD=hunter2\n");
        // No KMS is reachable: the file is refused before any call would be made.
        [$report, $stderr] = $this->boot('', ['AWS_ENDPOINT_URL_KMS' => 'http://127.0.0.1:9']);

        $this->assertSame('Hover\\InitException', $report['exception']);
        $this->assertStringStartsWith(
            "Hover.SecretsGarbled: {$this->directory}/hover_runtime/.env: the secrets file is garbled",
            $report['message']
        );
        $this->assertStringContainsString('Hover.SecretsGarbled', $stderr);
        $this->assertStringNotContainsString('hunter2', $report['message'] . $stderr);
    }

    public function testBootExportsTheEnvironmentButNeverLambdasOwn(): void
    {
        $this->writeManifest([
            'name' => 'shop',
            'environment' => ['APP_ENV' => 'staging', 'WORKERS' => 3, 'AWS_REGION' => 'mars-1'],
            'build_details' => ['id' => 'build-77'],
        ]);
        [$report, $stderr] = $this->boot('', ['AWS_REGION' => 'eu-west-1']);
        $environment = $report['environment'];

        $this->assertSame('staging', $environment['APP_ENV']);
        $this->assertSame('3', $environment['WORKERS']);
        $this->assertSame('build-77', $environment['HOVER_BUILD_ID']);
        $this->assertSame("{$this->directory}/storage/bootstrap/cache/config.php", $environment['APP_CONFIG_CACHE']);
        $this->assertSame("{$this->directory}/storage/bootstrap/cache/routes-v7.php", $environment['APP_ROUTES_CACHE']);
        $this->assertArrayNotHasKey('AWS_REGION', $environment);
        $this->assertSame(
            ['APP_ENV' => 'staging', 'HOVER_BUILD_ID' => 'build-77', 'AWS_REGION' => 'eu-west-1'],
            $report['getenv']
        );
        $this->assertStringContainsString("WARN\tmanifest.json: \"environment.AWS_REGION\" is ignored", $stderr);
    }

    public function testBootHappensOncePerProcess(): void
    {
        $this->writeManifest(['name' => 'first']);
        [$report] = $this->boot('boot-twice');
        $this->assertSame('first', $report['secondBoot']);
    }

    public function testWarningsAreLoggedInTheRuntimesFormat(): void
    {
        $this->writeManifest(['name' => 'shop']);
        [, $stderr] = $this->boot('log-warning');
        $this->assertMatchesRegularExpression("/^\\S+Z\tundefined\tWARN\tthe disk is nearly full$/m", $stderr);
        [, $stderr] = $this->boot('log-warning', ['AWS_LAMBDA_LOG_FORMAT' => 'JSON']);
        $records = array_map(
            static fn (string $line) => json_decode($line, true, 512, JSON_THROW_ON_ERROR),
            explode("\n", trim($stderr))
        );
        $this->assertSame(['WARN', 'the disk is nearly full'], [$records[0]['level'], $records[0]['message']]);
    }

    public function testAProcessThatEndsBeforeServingReportsAnInitError(): void
    {
        $this->writeManifest(['name' => 'shop']);
        [, $stderr] = $this->boot('log-warning');
        $this->assertStringContainsString(
            "ERROR\tHover.InitExited: PHP exited with status 0 while the application booted",
            $stderr
        );
    }

    public function testTheFunctionTypeCanBeOverridden(): void
    {
        $this->writeManifest(['name' => 'shop']);
        [$report] = $this->boot('', ['HOVER_FUNCTION_TYPE' => 'http']);
        $this->assertSame('http', $report['functionType']);
        $this->assertSame([], $report['queueSettings'], 'only a queue function has queue settings');
    }

    public function testAQueueFunctionReadsTheManifestEntryItsNamePointsTo(): void
    {
        $this->writeManifest(['name' => 'shop', 'queue' => [
            'default' => [
                'memory' => 512, 'timeout' => 120, 'tries' => 3, 'backoff' => '5, 10', 'queues' => ['default'],
            ],
            'priority' => ['tries' => 5],
        ]]);
        [$report] = $this->boot('', ['AWS_LAMBDA_FUNCTION_NAME' => 'shop-default-queue']);
        $this->assertSame('queue', $report['functionType']);
        $this->assertSame(
            ['name' => 'default', 'tries' => 3, 'timeout' => 120, 'memory' => 512, 'backoff' => '5,10'],
            $report['queueSettings']
        );
        [$report] = $this->boot('', ['AWS_LAMBDA_FUNCTION_NAME' => 'shop-priority-queue']);
        $this->assertSame(['name' => 'priority', 'tries' => 5], $report['queueSettings']);
    }

    public function testAQueueFunctionWithoutItsManifestEntryFailsInit(): void
    {
        $this->writeManifest(['name' => 'shop', 'queue' => ['default' => []]]);
        [$report] = $this->boot('', ['AWS_LAMBDA_FUNCTION_NAME' => 'shop-emails-queue']);
        $this->assertSame('Hover\\InitException', $report['exception']);
        $this->assertSame(
            'Hover.InvalidManifest: ' . $this->directory . '/hover_runtime/manifest.json: the queue function '
                . '"shop-emails-queue" has no entry "queue.emails" (entries: default)',
            $report['message']
        );
    }

    public function testABrokenManifestThrowsAnInitExceptionAndIsLogged(): void
    {
        $this->writeManifest('{"name": "shop", "environment": "APP_ENV=x"}');
        [$report, $stderr] = $this->boot();
        $manifest = "{$this->directory}/hover_runtime/manifest.json";
        $message = "Hover.InvalidManifest: {$manifest}: \"environment\" must be an object";
        $this->assertSame(
            ['exception' => 'Hover\InitException', 'message' => $message, 'isException' => true],
            $report
        );
        $this->assertStringContainsString("ERROR\t{$message}", $stderr);
        $this->assertStringContainsString('could not report the init error', $stderr, 'port 9 is closed');
    }

    public function testAMissingManifestThrows(): void
    {
        [$report] = $this->boot();
        $this->assertStringStartsWith(
            "Hover.InvalidManifest: {$this->directory}/hover_runtime/manifest.json: cannot be read",
            $report['message']
        );
    }

    public function testAnUnknownFunctionTypeThrows(): void
    {
        $this->writeManifest(['name' => 'shop']);
        [$report] = $this->boot('', ['AWS_LAMBDA_FUNCTION_NAME' => 'shop-worker']);
        $this->assertStringStartsWith(
            'Hover.UnknownFunctionType: the function name "shop-worker" does not end in -http, -cli or -queue',
            $report['message']
        );
    }

    public function testWithoutARuntimeApiBootThrows(): void
    {
        $this->writeManifest(['name' => 'shop']);
        [$report] = $this->boot('', ['AWS_LAMBDA_RUNTIME_API' => null]);
        $this->assertStringStartsWith('Hover.NoRuntimeApi: AWS_LAMBDA_RUNTIME_API is not set', $report['message']);
    }

    public function testAnUnreachableRuntimeApiThrowsARuntimeApiExceptionFromNextCommand(): void
    {
        $this->writeManifest(['name' => 'shop']);
        [$report, $stderr] = $this->boot('next-command');
        $message = 'the Lambda Runtime API at http://127.0.0.1:9/2018-06-01/runtime/invocation/next'
            . ' is unreachable after 6 attempts';
        $this->assertSame('Hover\RuntimeApiException', $report['nextCommand']['exception']);
        $this->assertTrue($report['nextCommand']['isException']);
        $this->assertStringStartsWith($message, $report['nextCommand']['message']);
        $this->assertStringContainsString($message, $stderr);
    }

    public function testTheNativeClassesCannotBeInstantiatedFromPhp(): void
    {
        $this->writeManifest(['name' => 'shop']);
        [$report] = $this->boot('instantiate');
        $this->assertSame(
            [
                'Hover\\Runtime' => 'You cannot instantiate this class from PHP.',
                'Hover\\Context' => 'You cannot instantiate this class from PHP.',
                'Hover\\CliInvocation' => 'You cannot instantiate this class from PHP.',
            ],
            $report['instantiate']
        );
    }
}
