<?php

declare(strict_types=1);

namespace Hover\Queue;

use Closure;
use Hover\QueueBatch;
use Illuminate\Contracts\Container\Container;
use Illuminate\Queue\Worker;
use Illuminate\Queue\WorkerOptions;

/**
 * Laravel's queue worker, fed a Lambda batch instead of polling a queue.
 *
 * Each record goes through the steps of `Worker::daemon()`'s loop, with Laravel's own
 * methods: `daemonShouldRun` (maintenance mode, the Looping event), the scope reset, the
 * timeout handler, `runJob` (events, exception reporting, tries, backoff, maxExceptions,
 * retryUntil, `failed()`), then the checks that stop a worker (a lost connection, memory,
 * `queue:restart`). Only the API that is the same from Laravel 8 to 13 is used; where it
 * changed, it is bridged (see the README).
 */
final class BatchWorker extends Worker
{
    private ?QueueBatch $batch = null;

    /** The record running, for the timeout's message. */
    private ?string $running = null;

    /** @var mixed the `queue:restart` timestamp when the worker started */
    private mixed $lastRestart = null;

    private Closure $warn;

    private bool $starting = true;

    /**
     * A worker with the queue manager, events, exception handler and the
     * `isDownForMaintenance` and `resetScope` closures of the application's own
     * `queue.worker`, as its version of Laravel builds them.
     */
    public static function like(Worker $worker, Closure $warn): self
    {
        $parts = Closure::bind(
            fn (): array => [
                $this->manager,
                $this->events,
                $this->exceptions,
                $this->isDownForMaintenance,
                $this->resetScope,
            ],
            $worker,
            Worker::class,
        )();
        $batchWorker = new self(...$parts);
        $batchWorker->warn = $warn;

        return $batchWorker;
    }

    /** Reads the `queue:restart` signal's timestamp, once the cache is set. */
    public function started(): void
    {
        $this->lastRestart = $this->getTimestampOfLastQueueRestart();
    }

    /**
     * Runs the batch's records in order, each outcome reported to the batch as it happens
     * (the batch marks a record running when it hands it out).
     * Returns why the worker must stop (the runtime then restarts once the batch is
     * answered), or null.
     */
    public function run(
        QueueBatch $batch,
        Container $container,
        string $connection,
        WorkerOptions $options,
        Attempts $attempts,
    ): ?string {
        $queue = $batch->queueUrl();
        $this->batch = $batch;
        if ($this->starting && method_exists($this, 'raiseWorkerStartingEvent')) {
            $this->raiseWorkerStartingEvent($connection, $queue, $options); // Laravel 12+
        }
        $this->starting = false;
        $popEvents = method_exists($this, 'raiseAfterJobPopEvent'); // Laravel 10+
        $outputLevel = ob_get_level();
        try {
            // As daemon() does, Looping before each job, and once more when none is left.
            while ($this->daemonShouldRun($options, $connection, $queue)) {
                $index = $batch->next();
                if ($index === null) {
                    return $this->queueShouldRestart($this->lastRestart) ? 'queue:restart was called' : null;
                }
                if (isset($this->resetScope)) {
                    ($this->resetScope)();
                }
                if ($popEvents) {
                    $this->raiseBeforeJobPopEvent($connection, $queue);
                }
                $message = $batch->message($index);
                $message['Attributes']['ApproximateReceiveCount'] = (string) $attempts->of($message);
                $job = new BatchJob($container, $batch, $index, $message, $connection, $queue);
                if ($popEvents) {
                    $this->raiseAfterJobPopEvent($connection, $job);
                }
                $this->running = $message['MessageId'];
                if ($this->supportsAsyncSignals()) {
                    // A job that turned asynchronous signals off would take the next one's
                    // timeout with it.
                    pcntl_async_signals(true);
                    $this->registerTimeoutHandler($job, $options);
                }
                $this->runJob($job, $connection, $options);
                if ($this->supportsAsyncSignals()) {
                    $this->resetTimeoutHandler();
                }
                $this->running = null;
                // What a job left in an output buffer goes out now, not when PHP ends.
                while (ob_get_level() > $outputLevel && ob_end_flush()) {
                }
                if ($job->isDeleted()) {
                    $attempts->done($message['MessageId']);
                }
                $reason = $this->reasonToStop($options);
                if ($reason !== null) {
                    return $reason;
                }
            }
            if ($batch->unrun() !== []) {
                ($this->warn)('the application is down for maintenance, or a Looping listener said to wait: '
                    . 'the rest of the batch comes back unrun');
            }

            return null;
        } finally {
            $this->batch = null;
        }
    }

    /**
     * A job's timeout: the job's or the options' (Laravel's rule), bounded by the time left
     * before the batch's stop point. Never 0, which would cancel the alarm: a job without a
     * timeout still ends by the stop point.
     */
    protected function timeoutForJob($job, WorkerOptions $options)
    {
        $timeout = (int) parent::timeoutForJob($job, $options);
        $left = $this->batch?->secondsLeft() ?? max(1, $timeout);

        return $timeout > 0 ? min($timeout, $left) : $left;
    }

    /**
     * Laravel's timeout handler ends the worker here once its rules have run (the job
     * failed if it will exceed its attempts or exceptions, or should fail on timeout). It
     * would SIGKILL the process; the runtime instead ends PHP with the status, which
     * answers the batch (the records done are done, this one comes back unless it was
     * deleted, the rest come back unrun) and restarts in place.
     *
     * @param int $status
     * @param WorkerOptions|null $options
     * @param mixed $reason Laravel 11+'s WorkerStopReason
     */
    public function kill($status = 0, $options = null, $reason = null)
    {
        $this->stop($status, $options, $reason);
        if ($this->running !== null) {
            ($this->warn)("the job of message {$this->running} ran past its timeout: "
                . 'the batch is answered and the runtime restarts');
        }
        exit($status);
    }

    /**
     * Why the worker must stop after a job, as `stopIfNecessary` decides it, or null.
     * (`queue:restart`, a cache read, is checked once a batch: restarting in place runs the
     * same code, since new code comes with a new function version.)
     */
    private function reasonToStop(WorkerOptions $options): ?string
    {
        // Laravel 11+ flags a lost connection apart from a request to quit.
        if ($this->shouldQuit || (property_exists($this, 'lostConnection') && $this->lostConnection)) {
            return 'a job lost the database connection, or the worker was asked to quit';
        }
        if ($this->memoryExceeded($options->memory)) {
            $used = memory_get_usage(true) >> 20;

            return "the worker uses {$used} MB, at or past its limit of {$options->memory} MB";
        }

        return null;
    }
}
