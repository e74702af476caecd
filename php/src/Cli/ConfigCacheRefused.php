<?php

declare(strict_types=1);

namespace Hover\Cli;

use Illuminate\Console\Command;

/**
 * Stands in for `config:cache` and `optimize` when the function loaded encrypted secrets:
 * Laravel's configuration cache is a PHP file holding every configuration value, the
 * decrypted secrets among them, and no secret is ever written to disk in plaintext.
 */
final class ConfigCacheRefused extends Command
{
    protected $description = 'Refused: the configuration holds decrypted secrets';

    public function __construct(string $name)
    {
        $this->name = $name;
        parent::__construct();
    }

    public function handle(): int
    {
        $this->error(
            "{$this->name} is not run on this function: its configuration holds the secrets decrypted from "
            . 'hover_runtime/.env, and a configuration cache file would write them to disk in plaintext. '
            . 'The runtime serves the configuration from the application\'s config files instead.'
        );

        return 1;
    }
}
