<?php

namespace App\Jobs;

use App\Jobs\Concerns\RecordsToQueueLog;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/**
 * Dies of a fatal error: allowed memory exhausted.
 */
class ExhaustsMemory implements ShouldQueue
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
        ini_set('memory_limit', '64M');
        $blocks = [];
        while (true) {
            $blocks[] = str_repeat('x', 1024 * 1024);
        }
    }
}
