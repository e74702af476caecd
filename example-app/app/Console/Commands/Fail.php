<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;
use RuntimeException;

class Fail extends Command
{
    protected $signature = 'hover:fail {message=Something broke}';

    protected $description = 'Throw an exception';

    public function handle(): int
    {
        $this->line('about to fail');

        throw new RuntimeException($this->argument('message'));
    }
}
