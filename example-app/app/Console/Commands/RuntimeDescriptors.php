<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/** Prints how many descriptors the runtime process (this command's parent) holds open. */
class RuntimeDescriptors extends Command
{
    protected $signature = 'hover:runtime-descriptors';

    protected $description = "Count the runtime process's open descriptors";

    public function handle(): int
    {
        $this->line((string) (count(scandir('/proc/' . posix_getppid() . '/fd')) - 2));

        return 0;
    }
}
