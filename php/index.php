<?php

/*
 * Hover's front controller: php-fpm runs this file for every HTTP invocation
 * (SCRIPT_FILENAME), with DOCUMENT_ROOT the app's public/ directory, as the original
 * runtime's hover_runtime/index.php was run. It handles the request as the app's
 * public/index.php would, with Laravel's storage under the runtime's storage path.
 */

declare(strict_types=1);

require __DIR__ . '/src/Http/FrontController.php';

Hover\Http\FrontController::handle(
    getenv('LAMBDA_TASK_ROOT') ?: dirname($_SERVER['DOCUMENT_ROOT']),
    $_SERVER['HOVER_STORAGE_PATH'] ?? '/tmp/storage',
);
