<?php

/*
 * The baseline of bench/queue_throughput.py: Laravel's own queue worker loop
 * (`Worker::daemon()`, as `queue:work` runs it) over jobs held in memory, in one booted
 * process: Laravel's SqsJob for each, with a stand-in SQS client whose calls do nothing
 * (no network, which favours this loop). Prints the time per job.
 *
 *     php bench/plain_worker.php <payload file> <jobs> [<jobs per batch>]
 *
 * With a batch size, the jobs come that many at a time: the loop waits for a line on stdin
 * before each batch and writes one after it, as a process woken for each batch is (the
 * time per job counts only the worker's loop).
 *
 * Run with the example app's environment (see bench/queue_throughput.py).
 */

declare(strict_types=1);

namespace Aws\Sqs {
    /** A stand-in for the AWS SDK's client, which Laravel's SqsJob takes; its calls do nothing. */
    final class SqsClient
    {
        /** @param array<string, mixed> $arguments */
        public function __call(string $name, array $arguments): void
        {
        }
    }
}

namespace HoverBench {
    use Aws\Sqs\SqsClient;
    use Illuminate\Contracts\Console\Kernel;
    use Illuminate\Contracts\Queue\Queue as QueueContract;
    use Illuminate\Queue\Connectors\ConnectorInterface;
    use Illuminate\Queue\Jobs\SqsJob;
    use Illuminate\Queue\Queue;
    use Illuminate\Queue\WorkerOptions;

    /** Jobs popped from memory, as SqsQueue pops them from SQS (declared once Laravel autoloads). */
    function memoryQueue(string $payload): Queue
    {
        return new class ($payload) extends Queue implements QueueContract {
            private int $popped = 0;

            private int $jobs = 0;

            public function __construct(private string $payload)
            {
            }

            public function refill(int $jobs): void
            {
                $this->jobs += $jobs;
            }

            public function size($queue = null)
            {
                return $this->jobs - $this->popped;
            }

            public function push($job, $data = '', $queue = null)
            {
            }

            public function pushRaw($payload, $queue = null, array $options = [])
            {
            }

            public function later($delay, $job, $data = '', $queue = null)
            {
            }

            public function pop($queue = null)
            {
                if ($this->popped === $this->jobs) {
                    return null;
                }
                $this->popped++;
                $message = [
                    'MessageId' => "m-{$this->popped}",
                    'ReceiptHandle' => "rh-{$this->popped}",
                    'Body' => $this->payload,
                    'Attributes' => ['ApproximateReceiveCount' => '1'],
                ];

                return new SqsJob($this->container, new SqsClient(), $message, $this->connectionName, 'memory');
            }
        };
    }

    [, $payloadFile, $jobs] = $argv;
    $perBatch = (int) ($argv[3] ?? $jobs);
    require getenv('LAMBDA_TASK_ROOT') . '/vendor/autoload.php';
    $app = require getenv('LAMBDA_TASK_ROOT') . '/bootstrap/app.php';
    $app->useStoragePath((string) getenv('HOVER_STORAGE_PATH'));
    $app->make(Kernel::class)->bootstrap();
    $payload = (string) file_get_contents($payloadFile);
    $app['config']->set('queue.connections.memory', ['driver' => 'memory']);
    $queue = memoryQueue($payload);
    $app['queue']->extend('memory', static fn () => new class ($queue) implements ConnectorInterface {
        public function __construct(private Queue $queue)
        {
        }

        public function connect(array $config)
        {
            return $this->queue;
        }
    });
    $worker = $app['queue.worker'];
    $worker->setCache($app['cache']->store());
    $options = new WorkerOptions();
    $options->sleep = 0;
    $options->stopWhenEmpty = true;
    $elapsed = 0;
    for ($done = 0; $done < (int) $jobs; $done += $perBatch) {
        if ($perBatch < (int) $jobs && fgets(STDIN) === false) {
            break;
        }
        $queue->refill($perBatch);
        $started = hrtime(true);
        $worker->daemon('memory', 'default', $options);
        $elapsed += hrtime(true) - $started;
        if ($perBatch < (int) $jobs) {
            fwrite(STDOUT, "done\n");
        }
    }
    echo json_encode(['jobs' => (int) $jobs, 'per_job_us' => $elapsed / 1000 / (int) $jobs]), "\n";
}
