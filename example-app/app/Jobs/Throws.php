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
 * Throws: released with the backoff while tries remain, failed on the last try. Its tries
 * are the queue's unless `$tries` is given.
 */
class Throws implements ShouldQueue
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

        throw new RuntimeException("{$this->label} threw");
    }
}
