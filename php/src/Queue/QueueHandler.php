<?php

declare(strict_types=1);

namespace Hover\Queue;

use Hover\QueueBatch;
use Hover\Runtime;
use Illuminate\Contracts\Cache\Repository;
use Illuminate\Foundation\Application;
use Illuminate\Queue\Events\JobFailed;
use Illuminate\Queue\Worker;
use Illuminate\Queue\WorkerOptions;
use Throwable;

/**
 * The queue function: each SQS batch runs in this process with Laravel's worker, as
 * `queue:work sqs` would run its jobs, and the extension answers Lambda with the records
 * whose jobs were not deleted.
 */
final class QueueHandler
{
    private BatchWorker $worker;

    private WorkerOptions $options;

    private string $connection;

    private Attempts $attempts;

    /** The batch in flight, for the hand-backs when PHP ends in the middle of it. */
    private ?QueueBatch $batch = null;

    /** Set by SIGTERM or SIGINT during a batch: answer it, then end. */
    private bool $terminating = false;

    public function __construct(private Runtime $runtime, private Application $app)
    {
        $warn = fn (string $message) => $this->runtime->logWarning($message);
        $settings = $runtime->queueSettings();
        $this->options = self::options($settings);
        $this->connection = self::connectionName($app);
        $cache = self::cache($app, $warn);
        $this->attempts = new Attempts($cache, $warn);
        $this->worker = BatchWorker::like($app->make('queue.worker'), $warn);
        $this->worker->setName($this->options->name);
        if ($cache !== null) {
            $this->worker->setCache($cache);
        }
        $this->worker->started();
        // As queue:work does: the worker itself never writes the failed-job store.
        $app['events']->listen(JobFailed::class, static function (JobFailed $event) use ($app): void {
            $app['queue.failer']->log(
                $event->connectionName,
                $event->job->getQueue(),
                $event->job->getRawBody(),
                $event->exception,
            );
        });
        if (extension_loaded('pcntl')) {
            pcntl_async_signals(true);
        } else {
            $warn('pcntl is not loaded: jobs have no timeout of their own, only the invocation\'s deadline');
        }
        // PHP ending mid-batch (exit(), a fatal error, a job's timeout): the answer goes out
        // after this, whatever the time (should the deadline watcher answer first, the
        // answer is the same).
        register_shutdown_function(fn () => $this->handBackUnrun(static fn (): bool => true));
    }

    public function serve(): void
    {
        while (!$this->terminating) {
            $batch = $this->batch = $this->runtime->nextBatch();
            $this->stopOnSignals(true);
            self::exportTraceId($batch->context()->traceId());
            $reason = $this->worker->run($batch, $this->app, $this->connection, $this->options, $this->attempts);
            if ($reason !== null) {
                $this->worker->stop(Worker::EXIT_SUCCESS, $this->options);
                $next = $this->terminating ? 'the runtime ends' : 'the runtime restarts';
                $this->runtime->logWarning("{$reason}: the rest of the batch comes back unrun; {$next}");
            }
            $uncounted = $this->handBackUnrun();
            $this->batch = null;
            if ($uncounted !== []) {
                $this->runtime->logWarning(count($uncounted) . ' of the hand-backs were not counted: '
                    . 'the stop point came first (their jobs see one attempt more on their next delivery)');
            }
            if (!$batch->answer($reason !== null && !$this->terminating)) {
                exit(0); // A job's fork that came back here: only the runtime answers.
            }
            $this->stopOnSignals(false);
        }
    }

    /**
     * While a batch runs, SIGTERM and SIGINT stop the worker as they stop `queue:work`: the
     * job running finishes, the rest of the batch comes back unrun, the batch is answered,
     * and the runtime ends. Between batches they end it at once, as nothing is in flight.
     */
    private function stopOnSignals(bool $duringBatch): void
    {
        if (!extension_loaded('pcntl')) {
            return;
        }
        $stop = function (): void {
            $this->terminating = true;
            $this->worker->shouldQuit = true;
        };
        pcntl_signal(SIGTERM, $duringBatch ? $stop : SIG_DFL);
        pcntl_signal(SIGINT, $duringBatch ? $stop : SIG_DFL);
    }

    /**
     * Counts the records of the batch in flight that go back unrun, while `$inTime()` (by
     * default: until the batch's stop point); returns the ones left to count.
     *
     * @return array<string, int> receive counts, by message id
     */
    private function handBackUnrun(?\Closure $inTime = null): array
    {
        $batch = $this->batch;
        if ($batch === null) {
            return [];
        }
        try {
            $receiveCounts = [];
            foreach ($batch->unrun() as $index) {
                $message = $batch->message($index);
                $receiveCounts[$message['MessageId']] = (int) ($message['Attributes']['ApproximateReceiveCount'] ?? 1);
            }
        } catch (Throwable) {
            return []; // Answered already.
        }

        $inTime ??= static fn (): bool => $batch->millisecondsLeft() > 0;

        return $this->attempts->handedBack($receiveCounts, $inTime);
    }

    /**
     * queue:work's options, from the function's manifest entry where it sets them.
     *
     * @param array{name?: string, tries?: int, backoff?: string, timeout?: int, memory?: int} $settings
     */
    private static function options(array $settings): WorkerOptions
    {
        // Properties, not constructor arguments: their names are stable from Laravel 8 to
        // 13, the constructor's parameters are not.
        $options = new WorkerOptions();
        $options->name = $settings['name'] ?? 'default';
        $options->maxTries = $settings['tries'] ?? 1;
        $options->backoff = $settings['backoff'] ?? 0;
        $options->timeout = $settings['timeout'] ?? 60;
        $options->memory = $settings['memory'] ?? 128;

        return $options;
    }

    /** The application's SQS connection's name (`sqs` when it has none): jobs and the failed-job store carry it. */
    private static function connectionName(Application $app): string
    {
        foreach ($app['config']->get('queue.connections', []) as $name => $connection) {
            if (($connection['driver'] ?? null) === 'sqs') {
                return (string) $name;
            }
        }

        return 'sqs';
    }

    /** The application's default cache store, as queue:work gives its worker. */
    private static function cache(Application $app, \Closure $warn): ?Repository
    {
        try {
            return $app->bound('cache') ? $app['cache']->store() : null;
        } catch (Throwable $e) {
            $warn("the cache store cannot be used ({$e->getMessage()}): "
                . 'no maxExceptions, queue:restart or attempts compensation');

            return null;
        }
    }

    /** Sets _X_AMZN_TRACE_ID in $_SERVER and $_ENV (the extension set getenv()'s). */
    private static function exportTraceId(?string $traceId): void
    {
        if ($traceId === null) {
            unset($_ENV['_X_AMZN_TRACE_ID'], $_SERVER['_X_AMZN_TRACE_ID']);

            return;
        }
        $_ENV['_X_AMZN_TRACE_ID'] = $_SERVER['_X_AMZN_TRACE_ID'] = $traceId;
    }
}
