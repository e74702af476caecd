<?php

declare(strict_types=1);

namespace Hover\Cli;

use Hover\CliInvocation;
use Symfony\Component\Console\Output\Output;

/**
 * Console output that goes straight into the invocation's response, in the order written,
 * so that it is complete however the command ends (return, exit(), deadline).
 */
final class CapturedOutput extends Output
{
    public function __construct(private CliInvocation $invocation)
    {
        parent::__construct(self::VERBOSITY_NORMAL, false);
    }

    protected function doWrite(string $message, bool $newline): void
    {
        $this->invocation->write($newline ? $message . PHP_EOL : $message);
    }
}
