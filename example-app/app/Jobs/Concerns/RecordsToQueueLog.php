<?php

namespace App\Jobs\Concerns;

use App\Support\QueueLog;
use Throwable;

/**
 * A job that records what it does in the example's queue log (see App\Support\QueueLog):
 * `{"job": "<class>", "label": "<label>", "did": "ran", "attempts": 1, "message_id": "…"}`,
 * and `{"did": "failed", "exception": "<class>", "message": "…"}` when Laravel calls its
 * failed() handler. Each job carries a label given to its constructor, so that tests tell
 * the records of one message from another's.
 */
trait RecordsToQueueLog
{
    /**
     * Who this job is in the log.
     *
     * @var string
     */
    public $label;

    /**
     * @param array<string, mixed> $details
     */
    protected function record(string $did, array $details = []): void
    {
        QueueLog::append([
            'job' => class_basename($this),
            'label' => $this->label,
            'did' => $did,
            'attempts' => $this->job ? $this->attempts() : null,
            'message_id' => $this->job ? $this->job->getJobId() : null,
            'pid' => getmypid(),
            'at' => microtime(true),
        ] + $details);
    }

    /**
     * Called by Laravel when the job has failed (on a fresh copy of the job, which has no
     * queue job behind it).
     */
    public function failed(Throwable $exception): void
    {
        $this->record('failed', [
            'exception' => get_class($exception),
            'message' => $exception->getMessage(),
        ]);
    }
}
