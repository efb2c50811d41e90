using System.Reflection;
using System.Runtime.InteropServices;

namespace RecSys.FeatureStore.Tests.EventLog;

/// <summary>
/// librdkafka's mock cluster (3 brokers speaking the Kafka protocol over TCP on loopback, data in memory), started by
/// P/Invoke. The redist's main <c>librdkafka.so</c> needs <c>libsasl2.so.3</c>, which Debian 12 lacks, so the import is
/// resolved to the redist's self-contained <c>centos8-librdkafka.so</c> (Confluent.Kafka falls back to it on its own).
/// The mock has no CreateTopics admin call: topics are created with <see cref="CreateTopic"/>.
/// </summary>
public sealed class MockKafkaCluster : IDisposable
{
    private const string Library = "librdkafka";
    private const int ProducerType = 0;
    private IntPtr _handle;
    private IntPtr _cluster;

    static MockKafkaCluster() => NativeLibrary.SetDllImportResolver(typeof(MockKafkaCluster).Assembly, Resolve);

    public MockKafkaCluster()
    {
        var conf = ConfNew();
        var error = new byte[512];
        _handle = KafkaNew(ProducerType, conf, error, (UIntPtr)error.Length);
        if (_handle == IntPtr.Zero)
        {
            throw new InvalidOperationException("rd_kafka_new failed: " + System.Text.Encoding.UTF8.GetString(error).TrimEnd('\0'));
        }

        _cluster = MockClusterNew(_handle, 3);
        if (_cluster == IntPtr.Zero)
        {
            KafkaDestroy(_handle);
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed.");
        }

        BootstrapServers = Marshal.PtrToStringUTF8(MockClusterBootstraps(_cluster))
            ?? throw new InvalidOperationException("The mock cluster has no bootstrap servers.");
    }

    /// <summary>host:port list of the mock brokers (loopback).</summary>
    public string BootstrapServers { get; }

    /// <summary>Creates a topic with <paramref name="partitions"/> partitions replicated on the 3 brokers.</summary>
    public void CreateTopic(string topic, int partitions)
    {
        var error = MockTopicCreate(_cluster, topic, partitions, 3);
        if (error != 0)
        {
            throw new InvalidOperationException($"rd_kafka_mock_topic_create({topic}) failed with error {error}.");
        }
    }

    public void Dispose()
    {
        if (_cluster != IntPtr.Zero)
        {
            MockClusterDestroy(_cluster);
            _cluster = IntPtr.Zero;
        }

        if (_handle != IntPtr.Zero)
        {
            KafkaDestroy(_handle);
            _handle = IntPtr.Zero;
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Library)
        {
            return IntPtr.Zero;
        }

        var native = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        foreach (var file in new[] { "centos8-librdkafka.so", "librdkafka.so" })
        {
            if (NativeLibrary.TryLoad(Path.Combine(native, file), out var handle))
            {
                return handle;
            }
        }

        return IntPtr.Zero;
    }

    [DllImport(Library, EntryPoint = "rd_kafka_conf_new")]
    private static extern IntPtr ConfNew();

    [DllImport(Library, EntryPoint = "rd_kafka_new")]
    private static extern IntPtr KafkaNew(int type, IntPtr conf, [Out] byte[] errstr, UIntPtr errstrSize);

    [DllImport(Library, EntryPoint = "rd_kafka_destroy")]
    private static extern void KafkaDestroy(IntPtr rk);

    [DllImport(Library, EntryPoint = "rd_kafka_mock_cluster_new")]
    private static extern IntPtr MockClusterNew(IntPtr rk, int brokers);

    [DllImport(Library, EntryPoint = "rd_kafka_mock_cluster_destroy")]
    private static extern void MockClusterDestroy(IntPtr cluster);

    [DllImport(Library, EntryPoint = "rd_kafka_mock_cluster_bootstraps")]
    private static extern IntPtr MockClusterBootstraps(IntPtr cluster);

    [DllImport(Library, EntryPoint = "rd_kafka_mock_topic_create")]
    private static extern int MockTopicCreate(IntPtr cluster, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic, int partitions, int replicationFactor);
}
