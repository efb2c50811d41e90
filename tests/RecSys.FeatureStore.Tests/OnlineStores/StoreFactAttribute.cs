using Xunit.Abstractions;
using Xunit.Sdk;

namespace RecSys.FeatureStore.Tests.OnlineStores;

/// <summary>Marks a contract test class whose store needs redis-server: without it, its cases are reported skipped with the reason.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresRedisServerAttribute : Attribute;

/// <summary>A contract fact: run as a normal fact, or skipped with a reason when the concrete class's store is unavailable.</summary>
[XunitTestCaseDiscoverer("RecSys.FeatureStore.Tests.OnlineStores.StoreFactDiscoverer", "RecSys.FeatureStore.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class StoreFactAttribute : FactAttribute;

public sealed class StoreFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        var display = discoveryOptions.MethodDisplayOrDefault();
        var displayOptions = discoveryOptions.MethodDisplayOptionsOrDefault();
        var needsRedis = testMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresRedisServerAttribute).AssemblyQualifiedName!).Any();
        if (needsRedis && RedisServerProcess.Binary is null)
        {
            return [new XunitSkippedDataRowTestCase(diagnosticMessageSink, display, displayOptions, testMethod, RedisServerProcess.MissingReason)];
        }

        return [new XunitTestCase(diagnosticMessageSink, display, displayOptions, testMethod)];
    }
}
