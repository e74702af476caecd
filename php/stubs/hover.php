<?php

/**
 * Signatures of the classes the hover extension (libhover.so) defines, for IDEs and static
 * analysis. Never loaded at run time: the extension provides these classes.
 */

namespace Hover;

/** Thrown by Runtime::boot(); the failure has already been reported to /init/error. */
class InitException extends \Exception
{
    /** Not instantiable from PHP: only the extension throws it. */
    public function __construct()
    {
    }
}

/** Thrown when the Lambda Runtime API cannot be used any more: the process should end. */
class RuntimeApiException extends \Exception
{
    /** Not instantiable from PHP: only the extension throws it. */
    public function __construct()
    {
    }
}

final class Runtime
{
    /** Not instantiable from PHP: the extension makes these. */
    public function __construct()
    {
    }

    /**
     * Native init, once per process: settings, manifest, storage directories and the
     * environment (getenv()). Later calls return the same runtime.
     *
     * @throws InitException
     */
    public static function boot(): Runtime
    {
    }

    /** @return 'http'|'cli'|'queue' */
    public function functionType(): string
    {
    }

    public function taskRoot(): string
    {
    }

    public function runtimeDir(): string
    {
    }

    public function storagePath(): string
    {
    }

    /** The manifest's "name". */
    public function appName(): string
    {
    }

    /**
     * Whether Laravel's configuration should be cached to a file now: on a first start. A
     * process restarted in place has the cache its first start made.
     */
    public function shouldCacheConfiguration(): bool
    {
    }

    /**
     * @return list<string> the variables whose values the config cache must not hold: the ones the
     *     secrets file set, and Lambda's credentials
     */
    public function secretNames(): array
    {
    }

    /** Whether a secrets file was loaded. */
    public function hasSecrets(): bool
    {
    }

    /** @return array<string, string> the variables init exported, for $_ENV and $_SERVER */
    public function environment(): array
    {
    }

    /** Writes a warning to the log (stderr), in the runtime's log format. */
    public function logWarning(string $message): void
    {
    }

    /** Reports a failure of the PHP side of init to /init/error. */
    public function reportInitError(string $errorType, string $message): void
    {
    }

    /**
     * Serves HTTP invocations through php-fpm, which runs $frontController for each, until
     * the Runtime API fails. Init ends here, once php-fpm accepts connections.
     *
     * @throws RuntimeApiException when the Runtime API fails
     * @throws InitException when php-fpm never got ready (reported to /init/error)
     */
    public function serveHttp(string $frontController): void
    {
    }

    /**
     * Waits for the next CLI invocation; malformed events are answered natively meanwhile.
     *
     * @throws RuntimeApiException
     */
    public function nextCommand(): CliInvocation
    {
    }

    /**
     * A queue function's worker settings from its manifest entry: `name`, and `tries`,
     * `backoff`, `timeout`, `memory` where the entry sets them. Empty in other types.
     *
     * @return array{name?: string, tries?: int, backoff?: string, timeout?: int, memory?: int}
     */
    public function queueSettings(): array
    {
    }

    /**
     * Waits for the next SQS batch; malformed events are answered natively meanwhile. The
     * first call ends init.
     *
     * @throws RuntimeApiException
     */
    public function nextBatch(): QueueBatch
    {
    }
}

final class QueueBatch
{
    /** Not instantiable from PHP: the extension makes these. */
    public function __construct()
    {
    }

    public function context(): Context
    {
    }

    /** The queue's URL, from the records' eventSourceARN: what SqsJob calls its queue. */
    public function queueUrl(): string
    {
    }

    /**
     * Record $index's message as SQS's ReceiveMessage gives it.
     *
     * @return array{MessageId: string, ReceiptHandle: string, Body: string, Attributes: array<string, string>, MessageAttributes: array<string, array<string, mixed>>}
     */
    public function message(int $index): array
    {
    }

    /**
     * Takes the record to run next, marked running; null when the batch is done (every record run, the rest of a
     * FIFO batch held back, less than a second left before the stop point, or not the
     * runtime's process).
     */
    public function next(): ?int
    {
    }

    /** Milliseconds left before the stop point (0 once it has passed). */
    public function millisecondsLeft(): int
    {
    }

    /** Whole seconds left before the stop point, at least 1: the longest a job may run. */
    public function secondsLeft(): int
    {
    }

    /** Record $index's job was deleted: Lambda may delete the record. */
    public function deleted(int $index): void
    {
    }

    /**
     * Releases record $index for $delay seconds (SQS ChangeMessageVisibility, at most 12
     * hours); the record comes back. False when the visibility could not be set (logged).
     */
    public function release(int $index, int $delay): bool
    {
    }

    /**
     * The records not run, which the answer hands back unrun.
     *
     * @return list<int>
     */
    public function unrun(): array
    {
    }

    /**
     * Answers the batch: the records whose jobs were not deleted come back. With
     * $thenRestart the runtime restarts in place and this never returns. False in a
     * process that is not the runtime (a job's fork), which must end.
     */
    public function answer(bool $thenRestart): bool
    {
    }
}

final class CliInvocation
{
    /** Not instantiable from PHP: the extension makes these. */
    public function __construct()
    {
    }

    /** The artisan command line, e.g. "migrate --force". */
    public function command(): string
    {
    }

    public function context(): Context
    {
    }

    /**
     * Forks the process to run the command. Returns true in the command's process, which
     * runs the command and exits with its status (its stdout and stderr are captured);
     * returns false in the runtime once the invocation has been answered.
     *
     * @throws \Exception when the invocation was answered already
     */
    public function fork(): bool
    {
    }
}

final class Context
{
    /** Not instantiable from PHP: the extension makes these. */
    public function __construct()
    {
    }

    public function requestId(): string
    {
    }

    /** Milliseconds since the epoch. */
    public function deadlineMs(): int
    {
    }

    public function remainingTimeMs(): int
    {
    }

    public function invokedFunctionArn(): string
    {
    }

    public function traceId(): ?string
    {
    }

    /** JSON, as a mobile SDK caller sent it. */
    public function clientContext(): ?string
    {
    }

    /** JSON, as a mobile SDK caller sent it. */
    public function cognitoIdentity(): ?string
    {
    }
}
