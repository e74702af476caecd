<?php

declare(strict_types=1);

namespace Hover\Tests;

use RuntimeException;

/**
 * AWS's Runtime Interface Emulator running a given bootstrap, on ports of its own, for
 * tests that need a real Lambda Runtime API.
 */
final class RuntimeApiEmulator
{
    /** @var resource */
    private $process;
    private int $port;
    public readonly string $logPath;

    /** @param array<string, string> $environment */
    public function __construct(string $bootstrap, array $environment, int $functionTimeout = 30)
    {
        $root = dirname(__DIR__, 2);
        $this->port = self::freePort();
        $directory = sys_get_temp_dir() . '/hover-phpunit-' . bin2hex(random_bytes(4));
        mkdir($directory);
        $this->logPath = $directory . '/rie.log';
        $environment += [
            'PATH' => getenv('PATH'),
            'HOVER_EXTENSION' => "{$root}/target/release/libhover.so",
            'AWS_LAMBDA_FUNCTION_NAME' => 'phpunit-fixture-cli',
            'AWS_LAMBDA_FUNCTION_TIMEOUT' => (string) $functionTimeout,
            'LAMBDA_TASK_ROOT' => "{$root}/example-app",
            'HOVER_STORAGE_PATH' => "{$directory}/storage",
        ];
        $command = [
            "{$root}/.tools/aws-lambda-rie",
            '--runtime-interface-emulator-address', "127.0.0.1:{$this->port}",
            '--runtime-api-address', '127.0.0.1:' . self::freePort(),
            $bootstrap,
        ];
        $log = ['file', $this->logPath, 'w'];
        $descriptors = [0 => ['file', '/dev/null', 'r'], 1 => $log, 2 => $log];
        $this->process = proc_open($command, $descriptors, $pipes, null, $environment);
        $deadline = microtime(true) + 10;
        while (!($socket = @fsockopen('127.0.0.1', $this->port))) {
            if (microtime(true) > $deadline) {
                throw new RuntimeException('the RIE did not start: ' . file_get_contents($this->logPath));
            }
            usleep(50_000);
        }
        fclose($socket);
    }

    /**
     * Invokes the function; returns the decoded JSON response.
     *
     * @param array<string, string> $headers
     * @return array<string, mixed>
     */
    public function invoke(string $payload, array $headers = []): array
    {
        $headerLines = ['Content-Type: application/json'];
        foreach ($headers as $name => $value) {
            $headerLines[] = "{$name}: {$value}";
        }
        $context = stream_context_create(['http' => [
            'method' => 'POST',
            'header' => implode("\r\n", $headerLines),
            'content' => $payload,
            'ignore_errors' => true,
            'timeout' => 60,
        ]]);
        $url = "http://127.0.0.1:{$this->port}/2015-03-31/functions/function/invocations";
        $body = file_get_contents($url, false, $context);

        return json_decode((string) $body, true, 512, JSON_THROW_ON_ERROR);
    }

    public function log(): string
    {
        return (string) file_get_contents($this->logPath);
    }

    public function stop(): void
    {
        proc_terminate($this->process);
        proc_close($this->process);
    }

    private static function freePort(): int
    {
        $socket = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($socket, false);
        fclose($socket);

        return (int) substr($name, strrpos($name, ':') + 1);
    }
}
