<?php

declare(strict_types=1);

namespace Hover\Queue;

use DateInterval;
use DateTimeInterface;
use Hover\QueueBatch;
use Illuminate\Container\Container;
use Illuminate\Queue\Jobs\Job;
use Illuminate\Queue\Jobs\SqsJob;

/**
 * Laravel's SqsJob for one record of a batch, whose SQS calls go through the extension:
 * a release sets the message's visibility natively and the record comes back; a delete is
 * recorded, and Lambda deletes the record when the batch is answered. Everything else
 * (attempts from ApproximateReceiveCount, the payload, `fire()`, `fail()`) is SqsJob's.
 */
final class BatchJob extends SqsJob
{
    /**
     * SqsJob's constructor takes the AWS SDK's client, which the runtime neither needs nor
     * ships: its properties are set here instead, as SqsJob sets them.
     *
     * @param array<string, mixed> $message the record as SQS's ReceiveMessage gives it
     */
    public function __construct(
        Container $container,
        private QueueBatch $batch,
        private int $index,
        array $message,
        string $connectionName,
        string $queue,
    ) {
        $this->container = $container;
        $this->job = $message;
        $this->connectionName = $connectionName;
        $this->queue = $queue;
    }

    /**
     * A deleted job's message is gone (SQS would refuse its visibility): a release after a
     * delete changes nothing, and the record is not listed.
     *
     * @param DateTimeInterface|DateInterval|int $delay
     */
    public function release($delay = 0)
    {
        if ($this->isDeleted()) {
            return;
        }
        Job::release($delay);
        $seconds = $delay instanceof DateTimeInterface || $delay instanceof DateInterval
            ? $this->secondsUntil($delay)
            : (int) $delay;
        $this->batch->release($this->index, max(0, $seconds));
    }

    public function delete()
    {
        Job::delete();
        $this->batch->deleted($this->index);
    }
}
