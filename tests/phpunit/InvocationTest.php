<?php

declare(strict_types=1);

namespace Hover\Tests;

use PHPUnit\Framework\TestCase;

/**
 * Hover\Runtime::nextCommand(), Hover\CliInvocation and Hover\Context, driven by AWS's
 * emulator: fixtures/runtime.php reports what each method returned, in its response.
 */
final class InvocationTest extends TestCase
{
    private static RuntimeApiEmulator $emulator;

    public static function setUpBeforeClass(): void
    {
        self::$emulator = new RuntimeApiEmulator(
            __DIR__ . '/fixtures/bootstrap',
            ['_X_AMZN_TRACE_ID' => 'Root=1-00000000-stale'],
            functionTimeout: 20
        );
    }

    public static function tearDownAfterClass(): void
    {
        self::$emulator->stop();
    }

    /** @return array{0: int, 1: array<string, mixed>, 2: string} exit code, report, raw output */
    private static function invokeFixture(string $command, array $headers = []): array
    {
        $response = self::$emulator->invoke(json_encode(['command' => $command]), $headers);
        self::assertSame(['exit_code', 'output'], array_keys($response), json_encode($response));
        $output = base64_decode($response['output'], true);
        [$report] = explode("\n", $output, 2);

        return [$response['exit_code'], json_decode($report, true, 512, JSON_THROW_ON_ERROR), $output];
    }

    public function testTheCommandAndItsContextReachPhp(): void
    {
        [$exitCode, $report] = self::invokeFixture('migrate --force');
        $this->assertSame(0, $exitCode);
        $this->assertSame('migrate --force', $report['command']);
        $uuid = '/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/';
        $this->assertMatchesRegularExpression($uuid, $report['requestId']);
        $this->assertStringEndsWith(':function:phpunit-fixture-cli', $report['invokedFunctionArn']);
        $this->assertNull($report['cognitoIdentity'], 'the emulator sends no Cognito identity');
    }

    public function testTheDeadlineAndRemainingTimeFollowTheFunctionTimeout(): void
    {
        [, $report] = self::invokeFixture('hover:ping');
        $untilDeadline = $report['deadlineMs'] - $report['nowMs'];
        $this->assertGreaterThan(15_000, $untilDeadline, 'a 20 s timeout');
        $this->assertLessThanOrEqual(20_000, $untilDeadline);
        $this->assertLessThanOrEqual($untilDeadline, $report['remainingTimeMs']);
        $this->assertGreaterThan($untilDeadline - 1_000, $report['remainingTimeMs']);
    }

    public function testWithoutATraceIdAStaleXAmznTraceIdIsCleared(): void
    {
        // The emulator sends no Lambda-Runtime-Trace-Id (hover-core's tests cover one that
        // is sent); the fixture's environment starts with a stale _X_AMZN_TRACE_ID.
        [, $report] = self::invokeFixture('hover:ping');
        $this->assertNull($report['traceId']);
    }

    public function testTheClientContextIsPassedThrough(): void
    {
        $clientContext = ['custom' => ['tenant' => 'acme'], 'env' => [], 'client' => []];
        $header = ['X-Amz-Client-Context' => base64_encode(json_encode($clientContext))];
        [, $report] = self::invokeFixture('hover:ping', $header);
        $this->assertSame($clientContext['custom'], json_decode($report['clientContext'], true)['custom']);
    }

    public function testWrittenBytesComeBackExactlyWithTheExitCode(): void
    {
        [$exitCode, , $output] = self::invokeFixture('exit with 4');
        $this->assertSame(4, $exitCode);
        $this->assertStringEndsWith("\nbytes that are not UTF-8: \xff\xfe", $output);
    }

    public function testACommandRunsOnce(): void
    {
        $first = self::invokeFixture('first');
        [, $report] = self::invokeFixture('fork the previous');
        $this->assertSame(
            "Exception: invocation {$first[1]['requestId']} was answered already",
            $report['forkPrevious']
        );
    }

    public function testTheRuntimeRestartsInPlaceWhenPhpEndsMidInvocation(): void
    {
        [, $before] = self::invokeFixture('hover:ping');
        $this->assertTrue($before['shouldCacheConfiguration'], 'a first start caches the configuration');

        $response = self::$emulator->invoke(json_encode(['command' => 'exit in the runtime']));
        $this->assertSame('Hover.RuntimeExited', $response['errorType'], json_encode($response));
        $this->assertStringStartsWith(
            'the runtime\'s PHP process ended with status 5 before `exit in the runtime` ran',
            $response['errorMessage']
        );

        [$exitCode, $after] = self::invokeFixture('hover:ping');
        $this->assertSame(0, $exitCode);
        $this->assertSame($before['runtimePid'], $after['runtimePid'], 'restarted in place: same process');
        $this->assertFalse($after['shouldCacheConfiguration'], 'the cache of the first start stays');
        $this->assertSame('production', $after['appEnv'], 'the settled environment is carried over');
        $this->assertFalse($after['handoffVisible']);
        $log = self::$emulator->log();
        $this->assertStringContainsString('the runtime restarted in place (restart 1)', $log);
        $this->assertStringNotContainsString('init/error', $log);
        $this->assertStringNotContainsString('Runtime exited', $log);
    }

    public function testAFailureOfPhpInitIsReportedToInitError(): void
    {
        $emulator = new RuntimeApiEmulator(__DIR__ . '/fixtures/bootstrap', ['FIXTURE_MODE' => 'init-error']);
        try {
            $response = $emulator->invoke('{"command": "list"}');
        } finally {
            $emulator->stop();
        }
        $this->assertSame('Fixture.BootFailed', $response['errorType']);
        $this->assertSame('reported from PHP by reportInitError()', $response['errorMessage']);
    }
}
