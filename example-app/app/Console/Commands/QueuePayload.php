<?php

namespace App\Console\Commands;

use App\Queue\PayloadQueue;
use Illuminate\Console\Command;
use Symfony\Component\Console\Output\OutputInterface;

class QueuePayload extends Command
{
    protected $signature = 'example:queue-payload
        {job : A job class of App\Jobs, e.g. Succeeds}
        {args?* : Its constructor\'s arguments, in order (whole numbers become integers)}
        {--queue=default : The queue the payload is made for}';

    protected $description = 'Print the JSON payload Laravel puts on SQS for an App\Jobs job';

    public function handle(): int
    {
        $class = 'App\\Jobs\\' . $this->argument('job');
        if (!class_exists($class)) {
            $this->error("There is no job {$class}.");

            return 1;
        }
        $arguments = array_map(static function (string $argument) {
            return preg_match('/\A-?[0-9]+\z/', $argument) === 1 ? (int) $argument : $argument;
        }, $this->argument('args'));

        $queue = new PayloadQueue();
        $queue->setContainer($this->laravel);
        $queue->setConnectionName('sqs');
        $payload = $queue->payloadFor(new $class(...$arguments), $this->option('queue'));
        $this->output->writeln($payload, OutputInterface::OUTPUT_RAW);

        return 0;
    }
}
