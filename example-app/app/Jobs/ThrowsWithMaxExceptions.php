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
 * Throws, with `$maxExceptions`: it fails once it has thrown that many times, whatever
 * tries it has left.
 */
class ThrowsWithMaxExceptions implements ShouldQueue
{
    use Dispatchable;
    use InteractsWithQueue;
    use Queueable;
    use SerializesModels;
    use RecordsToQueueLog;

    /**
     * @var int
     */
    public $tries;

    /**
     * @var int
     */
    public $maxExceptions;

    public function __construct(string $label, int $maxExceptions = 1, int $tries = 5)
    {
        $this->label = $label;
        $this->maxExceptions = $maxExceptions;
        $this->tries = $tries;
    }

    public function handle(): void
    {
        $this->record('ran');

        throw new RuntimeException("{$this->label} threw");
    }
}
