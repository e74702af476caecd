<?php

/*
 * Hover's Lambda runtime, PHP side: the entry point /opt/bootstrap runs with the `hover`
 * extension loaded. Everything protocol lives in the extension; this side builds the
 * Laravel application and runs it.
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    if (strncmp($class, 'Hover\\', 6) !== 0) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, 6)) . '.php';
    if (is_file($file)) {
        require $file;
    }
});

exit(Hover\Bootstrap::run());
