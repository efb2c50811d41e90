using System.Security.Cryptography;
using System.Text;

namespace RecSys.ServiceDefaults.Security;

/// <summary>
/// Hashes API keys for configuration. Keys are 256-bit random strings, so one SHA-256 is enough (no password stretching
/// needed); comparison is constant-time.
/// </summary>
public static class ApiKeyHasher
{
    public const string Prefix = "sha256:";

    /// <summary>A new random key: 32 bytes, URL-safe base64.</summary>
    public static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string Hash(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return Prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
    }

    internal static bool Matches(ReadOnlySpan<byte> keyHash, string configuredHash)
    {
        Span<byte> expected = stackalloc byte[32];
        return Convert.FromHexString(configuredHash.AsSpan(Prefix.Length), expected, out _, out var written) == System.Buffers.OperationStatus.Done
            && written == 32
            && CryptographicOperations.FixedTimeEquals(keyHash, expected);
    }

    internal static byte[] HashBytes(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
