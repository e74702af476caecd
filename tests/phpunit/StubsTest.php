<?php

declare(strict_types=1);

namespace Hover\Tests;

use PHPUnit\Framework\TestCase;
use ReflectionClass;
use ReflectionExtension;
use ReflectionMethod;
use ReflectionNamedType;
use ReflectionParameter;
use ReflectionType;

/**
 * php/stubs/hover.php declares the extension's classes for IDEs and static analysis. It is
 * written by hand, so this test holds it to the extension: the same classes, parents and
 * flags, the same public methods with the same parameter names (PHP's named arguments use
 * them), types and return types.
 */
final class StubsTest extends TestCase
{
    private const STUBS_NAMESPACE = 'HoverStubs';

    public static function setUpBeforeClass(): void
    {
        $source = (string) file_get_contents(dirname(__DIR__, 2) . '/php/stubs/hover.php');
        $namespace = 'namespace ' . self::STUBS_NAMESPACE . ';';
        $renamed = preg_replace('/^namespace Hover;$/m', $namespace, $source, 1, $count);
        self::assertSame(1, $count, 'the stubs declare namespace Hover');
        eval('?>' . $renamed);
    }

    public function testTheStubsDeclareEveryClassOfTheExtensionAndNoOther(): void
    {
        $extension = array_keys((new ReflectionExtension('hover'))->getClasses());
        $stubs = array_values(array_filter(
            get_declared_classes(),
            static fn (string $class) => str_starts_with($class, self::STUBS_NAMESPACE . '\\')
        ));
        $stubs = array_map(static fn (string $class) => self::name($class), $stubs);
        sort($extension);
        sort($stubs);
        $this->assertNotEmpty($extension);
        $this->assertSame($extension, $stubs);
    }

    /** @return iterable<string, array{string}> */
    public static function classes(): iterable
    {
        foreach (array_keys((new ReflectionExtension('hover'))->getClasses()) as $class) {
            yield $class => [$class];
        }
    }

    /** @dataProvider classes */
    public function testAClassIsDeclaredAsTheExtensionDefinesIt(string $class): void
    {
        $real = new ReflectionClass($class);
        $stub = new ReflectionClass(self::STUBS_NAMESPACE . substr($class, strlen('Hover')));
        $this->assertSame($real->isFinal(), $stub->isFinal(), "{$class} final");
        $this->assertSame(
            self::name($real->getParentClass() ? $real->getParentClass()->getName() : null),
            self::name($stub->getParentClass() ? $stub->getParentClass()->getName() : null),
            "{$class} parent"
        );
        $this->assertSame(self::methods($real), self::methods($stub), $class);
    }

    /** @return array<string, string> each public method declared by the class, as a signature */
    private static function methods(ReflectionClass $class): array
    {
        $methods = [];
        foreach ($class->getMethods(ReflectionMethod::IS_PUBLIC) as $method) {
            if ($method->getDeclaringClass()->getName() !== $class->getName()) {
                continue;
            }
            $parameters = array_map(
                static fn (ReflectionParameter $p) => sprintf(
                    '%s $%s%s',
                    self::type($p->getType()),
                    $p->getName(),
                    $p->isOptional() ? ' = …' : ''
                ),
                $method->getParameters()
            );
            $methods[$method->getName()] = sprintf(
                '%sfunction %s(%s): %s',
                $method->isStatic() ? 'static ' : '',
                $method->getName(),
                implode(', ', $parameters),
                self::type($method->getReturnType())
            );
        }
        ksort($methods);

        return $methods;
    }

    private static function type(?ReflectionType $type): string
    {
        if ($type === null) {
            return 'mixed';
        }
        if (!$type instanceof ReflectionNamedType) {
            return (string) $type;
        }

        return ($type->allowsNull() && $type->getName() !== 'mixed' ? '?' : '') . self::name($type->getName());
    }

    private static function name(?string $class): ?string
    {
        return $class === null ? null : preg_replace('/^' . self::STUBS_NAMESPACE . '\\\\/', 'Hover\\', $class);
    }
}
