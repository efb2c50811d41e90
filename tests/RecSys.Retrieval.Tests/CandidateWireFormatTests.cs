using System.Buffers;
using System.Text.Json;
using RecSys.Candidates;
using RecSys.Core.Contracts;

namespace RecSys.Retrieval.Tests;

public sealed class CandidateWireFormatTests
{
    private static readonly SourceReport[] Reports =
    [
        new("collaborative", 2, 3.5, false, null),
        new("content", 0, 100.25, true, "timed out after 100 ms"),
        new("trending", 2, 0.5, false, null),
    ];

    private static CandidateResponse Sample(double? coverage) => new(
        "u42",
        [
            new CandidateDto("i1", 0.9, ["collaborative", "trending"]),
            new CandidateDto("i2", 0.5, ["collaborative"]),
            new CandidateDto("é-ü", 1e-300, ["trending"]),
            new CandidateDto("i4", 0, []),
        ],
        Reports,
        ["content"],
        12.75) { IndexCoverage = coverage };

    private static byte[] Encode(CandidateResponse response)
    {
        var encoded = CandidateWireFormat.TryEncode(response);
        Assert.NotNull(encoded);
        var output = new ArrayBufferWriter<byte>();
        encoded.WriteTo(output);
        Assert.Equal(encoded.Length, output.WrittenCount);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Compared through JSON: the records hold lists, which compare by reference.</summary>
    private static string Json(CandidateResponse response) => JsonSerializer.Serialize(response, JsonDefaults.Options);

    [Theory]
    [InlineData(null)]
    [InlineData(0.75)]
    public void A_response_round_trips_unchanged(double? coverage)
    {
        var response = Sample(coverage);

        var decoded = CandidateWireFormat.Read(Encode(response));

        Assert.Equal(Json(response), Json(decoded));
    }

    [Fact]
    public void Columns_encode_to_the_bytes_of_the_same_candidates_as_objects_and_read_as_them()
    {
        var response = Sample(0.5);
        var dtos = response.Candidates;
        var columns = new CandidateColumns(
            [.. dtos.Select(c => c.ItemId), "unused"], [.. dtos.Select(c => c.Score), 7.0], [.. dtos.Select(c => c.Sources), ["trending"]], dtos.Count);
        var asColumns = response with { Candidates = columns };

        Assert.Equal(Encode(response), Encode(asColumns));
        Assert.Equal(Json(response), Json(asColumns));
        Assert.Equal(dtos.Count, columns.Count);
        Assert.Equal(dtos[2], columns[2] with { Sources = dtos[2].Sources });
        Assert.Same(columns.ItemIdAt(1), dtos[1].ItemId);
        Assert.Throws<ArgumentOutOfRangeException>(() => columns[dtos.Count]);

        var encoded = CandidateWireFormat.TryEncode(asColumns)!;
        var exact = new byte[encoded.Length];
        Assert.Equal(encoded.Length, encoded.WriteInto(exact));
        Assert.Equal(Encode(response), exact);
        Assert.Throws<ArgumentException>(() => encoded.WriteInto(new byte[encoded.Length - 1]));
    }

    [Fact]
    public void A_resolver_sees_every_id_once_and_its_answers_replace_the_decoded_strings()
    {
        var response = Sample(0.5);
        var data = Encode(response);
        string[] held = ["é-ü", "i1"];
        var asked = new List<string>();

        var decoded = CandidateWireFormat.Read(
            data,
            (bytes, starts, lengths, ids, numbers) =>
            {
                for (var k = 0; k < starts.Length; k++)
                {
                    var id = System.Text.Encoding.UTF8.GetString(bytes.Slice(starts[k], lengths[k]));
                    asked.Add(id);
                    var number = Array.IndexOf(held, id);
                    ids[k] = number >= 0 ? held[number] : null;
                    numbers[k] = number >= 0 ? 100 + number : 7;
                }
            },
            (id, number, score, sources) => (Id: id, Number: number, Score: score, Sources: string.Join('+', sources)));

        Assert.Equal(["i1", "i2", "é-ü", "i4"], asked);
        Assert.Equal(
            [("i1", 101, 0.9, "collaborative+trending"), ("i2", -1, 0.5, "collaborative"), ("é-ü", 100, 1e-300, "trending"), ("i4", -1, 0.0, "")],
            decoded.Candidates.Select(c => (c.Id, c.Number, c.Score, c.Sources)));
        Assert.Same(held[1], decoded.Candidates[0].Id);
        Assert.Same(held[0], decoded.Candidates[2].Id);
        Assert.Equal(0.5, decoded.IndexCoverage);
        Assert.Equal(["content"], decoded.Degraded);

        // Bytes that are not a response still throw, resolver or not.
        Assert.Throws<FormatException>(() => CandidateWireFormat.Read(data.AsSpan(0, data.Length - 1), (_, _, _, _, _) => { }, (id, _, _, _) => id));
        Assert.Throws<FormatException>(() => CandidateWireFormat.Read([.. data, 0], (_, _, _, _, _) => { }, (id, _, _, _) => id));
    }

    [Fact]
    public void Candidates_with_the_same_sources_share_one_list()
    {
        var response = Sample(null) with
        {
            Candidates = [.. Enumerable.Range(0, 100).Select(i => new CandidateDto($"i{i}", 1.0 / (i + 1), i % 2 == 0 ? ["collaborative"] : ["collaborative", "trending"]))],
        };

        var decoded = CandidateWireFormat.Read(Encode(response));

        Assert.Same(decoded.Candidates[0].Sources, decoded.Candidates[2].Sources);
        Assert.Same(decoded.Candidates[1].Sources, decoded.Candidates[99].Sources);
        Assert.Equal(Json(response), Json(decoded));
    }

    [Fact]
    public void A_source_without_a_report_is_added_to_the_table()
    {
        var response = Sample(null) with { Candidates = [new CandidateDto("i1", 0.5, ["trending", "extra"])] };

        Assert.Equal(Json(response), Json(CandidateWireFormat.Read(Encode(response))));
    }

    [Fact]
    public void Sources_out_of_report_order_or_too_many_are_left_to_json()
    {
        Assert.Null(CandidateWireFormat.TryEncode(Sample(null) with { Candidates = [new CandidateDto("i1", 0.5, ["trending", "collaborative"])] }));
        Assert.Null(CandidateWireFormat.TryEncode(Sample(null) with { Candidates = [new CandidateDto("i1", 0.5, ["trending", "trending"])] }));
        var many = Enumerable.Range(0, CandidateWireFormat.MaxSources + 1).Select(i => new SourceReport($"s{i:D2}", 0, 0, false, null)).ToArray();
        Assert.Null(CandidateWireFormat.TryEncode(Sample(null) with { Sources = many }));
        Assert.Null(CandidateWireFormat.TryEncode(Sample(null) with { UserId = new string('x', 70_000) }));
    }

    [Fact]
    public void The_compact_form_is_several_times_smaller_than_json_for_a_large_list()
    {
        var response = Sample(null) with
        {
            Candidates = [.. Enumerable.Range(0, 5000).Select(i => new CandidateDto($"i{i}", 1.0 / (i + 1), i % 3 == 0 ? ["collaborative", "trending"] : ["content"]))],
        };

        var compact = Encode(response).Length;
        var json = JsonSerializer.SerializeToUtf8Bytes(response, JsonDefaults.Options).Length;

        Assert.True(compact * 3 < json, $"compact {compact} bytes, JSON {json} bytes");
    }

    [Fact]
    public void Bytes_that_are_not_a_response_are_a_format_error()
    {
        var bytes = Encode(Sample(0.5));

        Assert.Throws<FormatException>(() => CandidateWireFormat.Read([]));
        Assert.Throws<FormatException>(() => CandidateWireFormat.Read(bytes.AsSpan(0, bytes.Length - 1)));
        Assert.Throws<FormatException>(() => CandidateWireFormat.Read([.. bytes, 0]));
        var badMagic = bytes.ToArray();
        badMagic[0] ^= 0xFF;
        Assert.Throws<FormatException>(() => CandidateWireFormat.Read(badMagic));
        for (var cut = 0; cut < bytes.Length; cut++)
        {
            Assert.Throws<FormatException>(() => CandidateWireFormat.Read(bytes.AsSpan(0, cut)));
        }
    }
}
