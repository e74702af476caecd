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
 * Logs a message with only its own context.
 */
class LogsMessage implements ShouldQueue
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
        Log::info('example job: logged', ['label' => $this->label]);
        $this->record('ran');
    }
}
