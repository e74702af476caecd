<?php

declare(strict_types=1);

namespace Hover\Http;

use Hover\LaravelApplication;
use Hover\Runtime;

/**
 * The HTTP function: php-fpm serves the requests, and the extension does everything
 * around it (events to FastCGI and back, php-fpm's supervision, the warmer). This process
 * only needs Laravel to write the configuration cache php-fpm's workers read, while
 * php-fpm starts (its providers are registered, not booted: that is each request's
 * work); then it hands the loop to the extension.
 */
final class HttpHandler
{
    public function __construct(private Runtime $runtime)
    {
        if ($runtime->shouldCacheConfiguration()) {
            $laravel = new LaravelApplication($runtime);
            $laravel->bootstrapConfigurationAndCacheIt($laravel->create());
        }
    }

    public function serve(): void
    {
        $this->runtime->serveHttp(dirname(__DIR__, 2) . '/index.php');
    }
}
