<?php

namespace App\Jobs;

use App\Jobs\Concerns\RecordsToQueueLog;
use DateTimeInterface;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/**
 * Its retryUntil() was already past when it was queued: Laravel fails it without running it.
 */
class RetryUntilPassed implements ShouldQueue
{
    use Dispatchable;
    use InteractsWithQueue;
    use Queueable;
    use SerializesModels;
    use RecordsToQueueLog;

    public function __construct(string $label)
    {
        $this->label = $label;
    }

    public function retryUntil(): DateTimeInterface
    {
        return now()->subMinute();
    }

    public function handle(): void
    {
        $this->record('ran');
    }
}
