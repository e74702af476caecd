<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

class ExhaustMemory extends Command
{
    protected $signature = 'hover:exhaust-memory';

    protected $description = 'Die of a fatal error: memory exhausted';

    public function handle(): int
    {
        $this->line('allocating');
        ini_set('memory_limit', '64M');
        $blocks = [];
        while (true) {
            $blocks[] = str_repeat('x', 1024 * 1024);
        }
    }
}
