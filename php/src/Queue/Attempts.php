<?php

declare(strict_types=1);

namespace Hover\Queue;

use Illuminate\Contracts\Cache\Repository;
use Throwable;

/**
 * A job's attempts, compensated for the deliveries the runtime handed back unrun.
 *
 * SQS raises a message's ApproximateReceiveCount each time it hands the message out,
 * whether the job ran or not. A record handed back unrun (too little time left, the rest
 * of a FIFO batch, maintenance mode, a worker that stopped) would otherwise come back with
 * one attempt used: a `tries = 1` job would then fail without ever running. Each such
 * hand-back is counted in the application's cache, per message, and subtracted.
 *
 * The count is as shared as the cache store: with a store every container reaches (redis,
 * database, dynamodb) it is exact; with the file store in /tmp it holds for redeliveries
 * to the same container. The cache failing never fails a job: the count is then skipped.
 */
final class Attempts
{
    /** SQS's longest message retention, 14 days: no message comes back later. */
    private const TTL_SECONDS = 1_209_600;

    /** @var array<string, true> messages with a count, to forget once their job is deleted */
    private array $counted = [];

    public function __construct(private ?Repository $cache, private \Closure $warn)
    {
    }

    /**
     * The message's attempts: its receive count minus its hand-backs, at least 1.
     *
     * @param array<string, mixed> $message
     */
    public function of(array $message): int
    {
        $received = max(1, (int) ($message['Attributes']['ApproximateReceiveCount'] ?? 1));
        if ($received === 1 || $this->cache === null) {
            return $received;
        }
        $handedBack = (int) $this->read($message['MessageId']);
        if ($handedBack > 0) {
            $this->counted[$message['MessageId']] = true;
        }

        return max(1, $received - $handedBack);
    }

    /**
     * The messages come back without their jobs having run: each one's count goes up by one,
     * a hundred at a time (one read and one write of the cache for each hundred, with a
     * store that takes many keys at once), as long as `$inTime()` says there is time. A
     * message SQS handed out for the first time has no count yet: it is only written.
     * Returns the messages not counted for lack of time.
     *
     * @param array<string, int> $receiveCounts the messages' receive counts, by id
     * @param \Closure(): bool $inTime
     * @return array<string, int>
     */
    public function handedBack(array $receiveCounts, \Closure $inTime): array
    {
        if ($this->cache === null) {
            return [];
        }
        $left = count($receiveCounts);
        try {
            foreach (array_chunk($receiveCounts, 100, true) as $number => $chunk) {
                if (!$inTime()) {
                    return array_slice($receiveCounts, $number * 100, null, true);
                }
                $seen = array_keys(array_filter($chunk, static fn (int $received) => $received > 1));
                $keys = array_map(static fn ($id): string => self::key((string) $id), $seen);
                $counts = $keys === [] ? [] : $this->cache->many($keys);
                $updated = [];
                foreach (array_keys($chunk) as $messageId) {
                    $key = self::key((string) $messageId);
                    $updated[$key] = (int) ($counts[$key] ?? 0) + 1;
                }
                $this->cache->putMany($updated, self::TTL_SECONDS);
                $left -= count($chunk);
            }
        } catch (Throwable $e) {
            ($this->warn)("{$left} hand-backs could not be counted: {$e->getMessage()}");
        }

        return [];
    }

    /** The message's job was deleted: its count is no longer needed. */
    public function done(string $messageId): void
    {
        if (!isset($this->counted[$messageId])) {
            return;
        }
        unset($this->counted[$messageId]);
        try {
            $this->cache?->forget(self::key($messageId));
        } catch (Throwable) {
            // It expires.
        }
    }

    private function read(string $messageId): mixed
    {
        try {
            return $this->cache?->get(self::key($messageId), 0);
        } catch (Throwable $e) {
            ($this->warn)("the hand-backs of message {$messageId} could not be read: {$e->getMessage()}");

            return 0;
        }
    }

    private static function key(string $messageId): string
    {
        return "hover:queue:unrun:{$messageId}";
    }
}
