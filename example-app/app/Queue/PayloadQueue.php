<?php

namespace App\Queue;

use Illuminate\Queue\NullQueue;

/**
 * A queue that only makes payloads: Laravel's own createPayload(), as every queue driver
 * calls it before it sends a job (uuid, displayName, maxTries, backoff, timeout,
 * retryUntil, the serialized command…), without sending anything anywhere.
 */
class PayloadQueue extends NullQueue
{
    /**
     * The JSON payload a queue driver would put on `$queue` for `$job`.
     *
     * @param object $job
     */
    public function payloadFor($job, string $queue): string
    {
        return $this->createPayload($job, $queue);
    }
}
