<?php

namespace App\Jobs;

use App\Jobs\Concerns\RecordsToQueueLog;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;
use RuntimeException;

/**
 * Marks itself failed with fail(): deleted, failed() called, in the failed-job store.
 */
class Fails implements ShouldQueue
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

    public function handle(): void
    {
        $this->record('ran');
        $this->fail(new RuntimeException("{$this->label} gave up"));
    }
}
