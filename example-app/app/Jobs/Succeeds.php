<?php

namespace App\Jobs;

use App\Jobs\Concerns\RecordsToQueueLog;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/**
 * Runs and succeeds: the job is deleted. `$tries`, when given, overrides the queue's.
 */
class Succeeds implements ShouldQueue
{
    use Dispatchable;
    use InteractsWithQueue;
    use Queueable;
    use SerializesModels;
    use RecordsToQueueLog;

    /**
     * @var int|null
     */
    public $tries;

    public function __construct(string $label, ?int $tries = null)
    {
        $this->label = $label;
        $this->tries = $tries;
    }

    public function handle(): void
    {
        $this->record('ran');
    }
}
