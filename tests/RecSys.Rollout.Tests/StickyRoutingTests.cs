using System.IO.Hashing;
using System.Text;

namespace RecSys.Rollout.Tests;

public sealed class StickyRoutingTests
{
    [Fact]
    public void The_bucket_is_xxhash64_of_user_zero_byte_rollout_modulo_10000()
    {
        // The documented byte layout, hashed independently: any replica in any language can reproduce the assignment.
        var bytes = Encoding.UTF8.GetBytes("user-42\0rankers:v7");
        var expected = (int)(XxHash64.HashToUInt64(bytes) % 10_000);

        Assert.Equal(expected, StickyRouting.BucketOf("user-42", "rankers:v7"));
        Assert.Equal(StickyRouting.BucketOf("ünïcode-👤", "rankers:v7"), StickyRouting.BucketOf("ünïcode-👤", "rankers:v7"));
        Assert.Equal(StickyRouting.BucketOf(new string('u', 2_000), "r"), StickyRouting.BucketOf(new string('u', 2_000), "r"));
    }

    [Fact]
    public void The_separator_keeps_shifted_concatenations_apart()
    {
        var differing = Enumerable.Range(0, 200).Count(i => StickyRouting.BucketOf($"u{i}", "ab") != StickyRouting.BucketOf($"u{i}a", "b"));
        Assert.True(differing > 190, $"{differing} of 200 differ");
    }

    [Fact]
    public void Bad_ids_are_refused()
    {
        Assert.Throws<ArgumentNullException>(() => StickyRouting.BucketOf(null!, "r"));
        Assert.Throws<ArgumentException>(() => StickyRouting.BucketOf("u", ""));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(25)]
    [InlineData(50)]
    public void The_candidate_serves_its_share_of_users(double percent)
    {
        const int Users = 40_000;
        var table = new RoutingTable("v1", "v2", "rankers:v2", RolloutStage.Ramp25, percent);
        var served = Enumerable.Range(0, Users).Count(u => table.Route($"user-{u}").ServesCandidate);

        // Binomial: within 4 standard deviations of the share.
        var expected = Users * percent / 100;
        var sd = Math.Sqrt(Users * (percent / 100) * (1 - (percent / 100)));
        Assert.InRange(served, expected - (4 * sd), expected + (4 * sd));
    }

    [Fact]
    public void As_the_share_grows_users_only_move_from_production_to_the_candidate()
    {
        double[] shares = [0, 1, 5, 10, 25, 50, 100];
        for (var u = 0; u < 5_000; u++)
        {
            var servedBefore = false;
            foreach (var share in shares)
            {
                var served = new RoutingTable("v1", "v2", "rankers:v2", RolloutStage.Canary, share).Route($"user-{u}").ServesCandidate;
                Assert.True(served || !servedBefore, $"user-{u} moved back to production at {share} %");
                servedBefore = served;
            }

            Assert.True(servedBefore);
        }
    }

    [Fact]
    public void Another_rollout_draws_independent_buckets()
    {
        var first = new RoutingTable("v1", "v2", "rankers:v2", RolloutStage.Ramp50, 50);
        var second = new RoutingTable("v2", "v3", "rankers:v3", RolloutStage.Ramp50, 50);
        var both = Enumerable.Range(0, 20_000).Count(u => first.Route($"u{u}").ServesCandidate && second.Route($"u{u}").ServesCandidate);

        // Independent halves overlap on a quarter of the users (sd ≈ 61).
        Assert.InRange(both, 5_000 - 300, 5_000 + 300);
    }

    [Fact]
    public void The_decision_explains_itself()
    {
        var table = new RoutingTable("v1", "v2", "rankers:v2", RolloutStage.Canary, 5);
        var decisions = Enumerable.Range(0, 1_000).Select(u => table.Route($"user-{u}")).ToList();
        var candidate = decisions.First(d => d.ServesCandidate);
        var production = decisions.First(d => !d.ServesCandidate);

        Assert.Equal("v2", candidate.Version);
        Assert.InRange(candidate.Bucket, 0, 499);
        Assert.Equal($"v2: candidate, stage Canary (5 %), bucket {candidate.Bucket} < 500", candidate.Describe());
        Assert.Equal($"v1: production, stage Canary (5 %), bucket {production.Bucket} >= 500", production.Describe());
        Assert.Null(candidate.ShadowVersion);
        Assert.Equal("v1: production, no rollout", RoutingTable.ProductionOnly("v1").Route("user-1").Describe());
    }

    [Fact]
    public void In_shadow_everyone_gets_production_and_the_candidate_scores_in_the_background()
    {
        var table = new RoutingTable("v1", "v2", "rankers:v2", RolloutStage.Shadow, 0);
        Assert.All(Enumerable.Range(0, 2_000).Select(u => table.Route($"user-{u}")), d =>
        {
            Assert.Equal("v1", d.Version);
            Assert.Equal("v2", d.ShadowVersion);
        });
    }
}
