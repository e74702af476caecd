<?php

namespace App\Jobs;

use App\Jobs\Concerns\RecordsToQueueLog;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;
use Illuminate\Support\Facades\Log;

/**
 * Adds context to every later log record (Log::withContext), then logs: queue:work forgets
 * that context before the next job.
 */
class LogsWithContext implements ShouldQueue
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
        Log::withContext(['example_context' => $this->label]);
        Log::info('example job: logged with context', ['label' => $this->label]);
        $this->record('ran');
    }
}
