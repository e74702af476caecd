<?php

namespace App\Jobs;

use App\Jobs\Concerns\RecordsToQueueLog;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/**
 * Releases itself back to the queue, to come back in `$delay` seconds.
 */
class Releases implements ShouldQueue
{
    use Dispatchable;
    use InteractsWithQueue;
    use Queueable;
    use SerializesModels;
    use RecordsToQueueLog;

    /**
     * The release's delay, in seconds (Queueable's `$delay` is the dispatch's).
     *
     * @var int
     */
    public $releaseDelay;

    public function __construct(string $label, int $delay)
    {
        $this->label = $label;
        $this->releaseDelay = $delay;
    }

    public function handle(): void
    {
        $this->record('ran', ['delay' => $this->releaseDelay]);
        $this->release($this->releaseDelay);
    }
}
