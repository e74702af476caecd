<?php

/*
 * PHPUnit bootstrap: the extension must be loaded (through PHP_INI_SCAN_DIR, see
 * scripts/test.sh), and the Hover PHP classes and the example app's dependencies are
 * autoloaded as php/bootstrap.php and the example app do it.
 */

declare(strict_types=1);

if (!extension_loaded('hover')) {
    fwrite(STDERR, "The hover extension is not loaded: run the tests through scripts/test.sh\n");
    exit(1);
}

require_once 'PHPUnit/Autoload.php';
require_once __DIR__ . '/RuntimeApiEmulator.php';
