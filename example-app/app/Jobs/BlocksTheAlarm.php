<?php

namespace App\Jobs;

use App\Jobs\Concerns\RecordsToQueueLog;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/**
 * Turns PHP's asynchronous signals off, then sleeps in short naps for `$seconds`: a
 * SIGALRM meant to stop it stays pending, as in a job stuck in code that never returns to
 * PHP's signal dispatch.
 */
class BlocksTheAlarm implements ShouldQueue
{
    use Dispatchable;
    use InteractsWithQueue;
    use Queueable;
    use SerializesModels;
    use RecordsToQueueLog;

    /**
     * @var int
     */
    public $seconds;

    public function __construct(string $label, int $seconds = 60)
    {
        $this->label = $label;
        $this->seconds = $seconds;
    }

    public function handle(): void
    {
        $this->record('ran', ['seconds' => $this->seconds]);
        pcntl_async_signals(false);
        $end = microtime(true) + $this->seconds;
        while (microtime(true) < $end) {
            usleep(10000);
        }
        pcntl_async_signals(true);
        $this->record('woke');
    }
}
