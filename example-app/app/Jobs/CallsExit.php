<?php

namespace App\Jobs;

use App\Jobs\Concerns\RecordsToQueueLog;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/**
 * Calls exit() in the middle of the job.
 */
class CallsExit implements ShouldQueue
{
    use Dispatchable;
    use InteractsWithQueue;
    use Queueable;
    use SerializesModels;
    use RecordsToQueueLog;

    /**
     * @var int
     */
    public $status;

    public function __construct(string $label, int $status = 3)
    {
        $this->label = $label;
        $this->status = $status;
    }

    public function handle(): void
    {
        $this->record('ran', ['status' => $this->status]);
        exit($this->status);
    }
}
