using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Validation;

namespace RecSys.FeatureStore.Tests;

public sealed class ValidationTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private static EventDto Valid() => new("ev-1", "u1", "i1", null, "click", null, Now.AddMinutes(-1));

    [Fact]
    public void A_valid_event_maps_to_the_domain_event()
    {
        Assert.Null(BatchValidator.Validate(Valid() with { Type = "Click", Value = 1.5 }, Now, out var e));
        Assert.Equal(new InteractionEvent("ev-1", "u1", "i1", null, EventType.Click, 1.5, Now.AddMinutes(-1)), e);
    }

    [Fact]
    public void Request_id_and_model_version_are_optional_and_carried_to_the_domain_event()
    {
        Assert.Null(BatchValidator.Validate(Valid() with { RequestId = "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", ModelVersion = "v12" }, Now, out var e));
        Assert.Equal(("0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", "v12"), (e!.RequestId, e.ModelVersion));
        Assert.Null(BatchValidator.Validate(Valid(), Now, out var plain));
        Assert.Null(plain!.RequestId);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("ctrl\u0001")]
    public void A_request_id_or_model_version_present_must_be_a_clean_id(string value)
    {
        AssertRejected(Valid() with { RequestId = value }, "requestId");
        AssertRejected(Valid() with { ModelVersion = value }, "modelVersion");
        AssertRejected(Valid() with { RequestId = new string('r', 129) }, "requestId");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("tab\there")]
    [InlineData("ctrl\u0001")]
    public void Event_id_must_be_present_without_whitespace_or_control_characters(string? id) =>
        AssertRejected(Valid() with { EventId = id }, "eventId");

    [Fact]
    public void Event_id_may_have_128_characters_but_not_129()
    {
        Assert.Null(BatchValidator.Validate(Valid() with { EventId = new string('x', 128) }, Now, out _));
        AssertRejected(Valid() with { EventId = new string('x', 129) }, "eventId");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("u 1")]
    [InlineData("u:1")]
    public void User_id_follows_the_entity_id_rules(string? user) => AssertRejected(Valid() with { UserId = user }, "userId");

    [Fact]
    public void User_id_longer_than_64_is_rejected() => AssertRejected(Valid() with { UserId = new string('u', 65) }, "userId");

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("share")]
    [InlineData("3")]
    public void Type_must_be_a_known_event_type(string? type) => AssertRejected(Valid() with { Type = type }, "type");

    [Theory]
    [InlineData(null)]
    [InlineData("i|1")]
    public void Item_id_is_required_and_valid_unless_follow(string? item) => AssertRejected(Valid() with { ItemId = item }, "itemId");

    [Fact]
    public void A_follow_needs_a_creator_but_no_item()
    {
        var follow = Valid() with { Type = "follow", ItemId = null, CreatorId = "c1" };
        Assert.Null(BatchValidator.Validate(follow, Now, out var e));
        Assert.Equal(EventType.Follow, e!.Type);
        AssertRejected(follow with { CreatorId = null }, "creatorId");
        AssertRejected(follow with { CreatorId = "bad id" }, "creatorId");
    }

    [Fact]
    public void A_creator_id_on_an_item_event_must_be_valid() => AssertRejected(Valid() with { CreatorId = "c/1" }, "creatorId");

    [Fact]
    public void Event_time_is_required_and_at_most_five_minutes_ahead()
    {
        AssertRejected(Valid() with { EventTime = null }, "eventTime");
        AssertRejected(Valid() with { EventTime = Now.AddMinutes(5).AddSeconds(1) }, "eventTime");
        Assert.Null(BatchValidator.Validate(Valid() with { EventTime = Now.AddMinutes(5) }, Now, out _));
        Assert.Null(BatchValidator.Validate(Valid() with { EventTime = Now.AddYears(-3) }, Now, out _));
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void Value_must_be_finite(double value) => AssertRejected(Valid() with { Value = value }, "value");

    [Fact]
    public void A_null_event_is_rejected() => Assert.NotNull(BatchValidator.Validate((EventDto?)null, Now, out _));

    [Theory]
    [InlineData(null, false)]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(10_000, true)]
    [InlineData(10_001, false)]
    public void Batches_hold_1_to_10000_records(int? count, bool ok) =>
        Assert.Equal(ok, BatchValidator.CheckBatchSize(count, "events") is null);

    private static ItemDto ValidItem() => new("i1", "c1", ["news", "tech"], ["a"], Now, null, "Title");

    [Fact]
    public void A_valid_item_defaults_to_available()
    {
        Assert.Null(BatchValidator.Validate(ValidItem(), out var item));
        Assert.True(item!.Available);
        Assert.Equal(["news", "tech"], item.Categories);
        Assert.Null(BatchValidator.Validate(ValidItem() with { CreatorId = null, Categories = null, Tags = null }, out var bare));
        Assert.Empty(bare!.Categories);
    }

    [Fact]
    public void Item_rules_are_enforced()
    {
        AssertItemRejected(ValidItem() with { Id = null }, "id");
        AssertItemRejected(ValidItem() with { Id = "a b" }, "id");
        AssertItemRejected(ValidItem() with { CreatorId = "c 1" }, "creatorId");
        AssertItemRejected(ValidItem() with { Categories = ["a|b"] }, "categories");
        AssertItemRejected(ValidItem() with { Categories = [""] }, "categories");
        AssertItemRejected(ValidItem() with { Categories = [new string('c', 65)] }, "categories");
        AssertItemRejected(ValidItem() with { Categories = [.. Enumerable.Range(0, 33).Select(i => $"c{i}")] }, "categories");
        AssertItemRejected(ValidItem() with { Tags = ["x|y"] }, "tags");
        AssertItemRejected(ValidItem() with { Tags = [.. Enumerable.Range(0, 33).Select(i => $"t{i}")] }, "tags");
        AssertItemRejected(ValidItem() with { CreatedAt = null }, "createdAt");
        Assert.Null(BatchValidator.Validate(ValidItem() with { Categories = [.. Enumerable.Range(0, 32).Select(i => $"c{i}")] }, out _));
    }

    private static void AssertRejected(EventDto dto, string field)
    {
        var error = BatchValidator.Validate(dto, Now, out var valid);
        Assert.Null(valid);
        Assert.NotNull(error);
        Assert.Contains(field, error, StringComparison.Ordinal);
    }

    private static void AssertItemRejected(ItemDto dto, string field)
    {
        var error = BatchValidator.Validate(dto, out var valid);
        Assert.Null(valid);
        Assert.NotNull(error);
        Assert.Contains(field, error, StringComparison.Ordinal);
    }
}
