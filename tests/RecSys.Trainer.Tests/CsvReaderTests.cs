using RecSys.Trainer.Import;

namespace RecSys.Trainer.Tests;

public sealed class CsvReaderTests
{
    private static List<CsvRecord> Parse(string text, char delimiter = ',') =>
        new CsvReader(new StringReader(text), delimiter).ReadAll().ToList();

    [Fact]
    public void Plain_fields_and_line_numbers()
    {
        var records = Parse("a,b,c\n1,2,3\n");
        Assert.Equal(2, records.Count);
        Assert.Equal(["1", "2", "3"], records[1].Fields);
        Assert.Equal(2, records[1].Line);
        Assert.All(records, r => Assert.Null(r.Error));
    }

    [Fact]
    public void Quoted_fields_keep_delimiters_and_doubled_quotes()
    {
        var record = Assert.Single(Parse("1,\"American President, The (1995)\",\"say \"\"hi\"\"\"\n"));
        Assert.Equal(["1", "American President, The (1995)", "say \"hi\""], record.Fields);
    }

    [Fact]
    public void Crlf_and_cr_line_endings_and_no_final_newline()
    {
        var records = Parse("a,b\r\n1,2\r3,4");
        Assert.Equal(3, records.Count);
        Assert.Equal(["1", "2"], records[1].Fields);
        Assert.Equal(["3", "4"], records[2].Fields);
        Assert.Equal(3, records[2].Line);
    }

    [Fact]
    public void Line_breaks_inside_quotes_belong_to_the_field_and_count_lines()
    {
        var records = Parse("1,\"two\r\nlines\",x\n2,y,z\n");
        Assert.Equal(2, records.Count);
        Assert.Equal("two\nlines", records[0].Fields[1]);
        Assert.Equal(1, records[0].Line);
        Assert.Equal(3, records[1].Line);
    }

    [Fact]
    public void Empty_fields_and_blank_lines()
    {
        var records = Parse("a,,c\n\n,\n\r\nx,y,\n");
        Assert.Equal(3, records.Count);
        Assert.Equal(["a", "", "c"], records[0].Fields);
        Assert.Equal(["", ""], records[1].Fields);
        Assert.Equal(["x", "y", ""], records[2].Fields);
        Assert.Equal(5, records[2].Line);
    }

    [Fact]
    public void Quote_inside_an_unquoted_field_is_text()
    {
        Assert.Equal(["5\" disk", "b"], Assert.Single(Parse("5\" disk,b\n")).Fields);
    }

    [Fact]
    public void Text_after_a_closing_quote_is_reported_and_parsing_goes_on()
    {
        var records = Parse("\"ab\"c,d\n1,2\n");
        Assert.Equal("unexpected text after a closing quote", records[0].Error);
        Assert.Null(records[1].Error);
        Assert.Equal(["1", "2"], records[1].Fields);
    }

    [Fact]
    public void Unclosed_quote_is_reported_with_its_line()
    {
        var records = Parse("a,b\n1,\"open\n2,3\n");
        Assert.Equal(2, records.Count);
        Assert.Contains("line 2", records[1].Error);
    }

    [Fact]
    public void Tab_delimiter_keeps_commas()
    {
        Assert.Equal(["a,b", "c"], Assert.Single(Parse("a,b\tc\n", '\t')).Fields);
    }

    [Fact]
    public void Fields_longer_than_the_read_buffer()
    {
        var big = new string('x', 200_000);
        Assert.Equal([big, "y"], Assert.Single(Parse($"\"{big}\",y\n")).Fields);
    }
}
