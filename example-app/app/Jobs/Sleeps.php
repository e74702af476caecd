<?php

namespace App\Jobs;

use App\Jobs\Concerns\RecordsToQueueLog;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/**
 * Sleeps `$seconds` (fractions allowed), to run into its timeout or the invocation's
 * deadline. `$timeout` and `$failOnTimeout`, when given, are the job's own.
 */
class Sleeps implements ShouldQueue
{
    use Dispatchable;
    use InteractsWithQueue;
    use Queueable;
    use SerializesModels;
    use RecordsToQueueLog;

    /**
     * @var int|null
     */
    public $timeout;

    /**
     * @var bool
     */
    public $failOnTimeout;

    /**
     * @var float
     */
    public $seconds;

    public function __construct(string $label, float $seconds, ?int $timeout = null, bool $failOnTimeout = false)
    {
        $this->label = $label;
        $this->seconds = $seconds;
        $this->timeout = $timeout;
        $this->failOnTimeout = $failOnTimeout;
    }

    public function handle(): void
    {
        $this->record('ran', ['seconds' => $this->seconds]);
        // Short naps, so that a signal handler that returns finds the job still sleeping.
        $end = microtime(true) + $this->seconds;
        while (($left = $end - microtime(true)) > 0) {
            usleep((int) (min($left, 0.05) * 1e6));
        }
        $this->record('woke');
    }
}
