<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

class ShowEnv extends Command
{
    protected $signature = 'hover:env {names* : Variables to show}';

    protected $description = 'Show environment variables as env(), getenv(), $_ENV and $_SERVER see them';

    public function handle(): int
    {
        $seen = [];
        foreach ($this->argument('names') as $name) {
            $seen[$name] = [
                'env' => env($name),
                'getenv' => getenv($name) === false ? null : getenv($name),
                '_ENV' => $_ENV[$name] ?? null,
                '_SERVER' => $_SERVER[$name] ?? null,
            ];
        }
        $this->line(json_encode($seen));

        return 0;
    }
}
