<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

class SecretDigests extends Command
{
    protected $signature = 'hover:secret-digests
        {names* : Variables to show}
        {--config=* : Configuration keys to show}';

    protected $description = 'Show SHA-256 digests of secrets as env(), getenv(), $_ENV, $_SERVER and config() see '
        . 'them, never the values';

    public function handle(): int
    {
        $digest = fn ($value) => is_string($value) ? hash('sha256', $value) : null;
        $seen = [];
        foreach ($this->argument('names') as $name) {
            $seen[$name] = [
                'env' => $digest(env($name)),
                'getenv' => $digest(getenv($name)),
                '_ENV' => $digest($_ENV[$name] ?? null),
                '_SERVER' => $digest($_SERVER[$name] ?? null),
            ];
        }
        foreach ($this->option('config') as $key) {
            $seen["config:{$key}"] = $digest(config($key));
        }
        $this->line(json_encode($seen));

        return 0;
    }
}
