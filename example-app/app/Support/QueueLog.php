<?php

namespace App\Support;

/**
 * What the example's queue jobs and queue event listeners did, one JSON object a line, in
 * the file named by the environment variable EXAMPLE_QUEUE_LOG: the end-to-end tests read
 * it. Nothing is written when the variable is unset.
 */
final class QueueLog
{
    public static function enabled(): bool
    {
        return self::path() !== null;
    }

    /**
     * @param array<string, mixed> $line
     */
    public static function append(array $line): void
    {
        $path = self::path();
        if ($path === null) {
            return;
        }
        $json = json_encode(
            $line,
            JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR
        );
        file_put_contents($path, $json . "\n", FILE_APPEND | LOCK_EX);
    }

    private static function path(): ?string
    {
        $path = env('EXAMPLE_QUEUE_LOG');

        return is_string($path) && $path !== '' ? $path : null;
    }
}
