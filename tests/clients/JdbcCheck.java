// pgJDBC against Quarry's PostgreSQL door: connect, DatabaseMetaData (schemas, tables,
// columns), a PreparedStatement with parameters, and a round trip of timestamp, numeric,
// date, boolean and NULL values.
//
// Usage: java -cp postgresql.jar:DIR JdbcCheck PORT   (the server holds nothing yet)

import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

public class JdbcCheck {
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static List<String> column(ResultSet rs, String name) throws SQLException {
        List<String> values = new ArrayList<>();
        while (rs.next()) values.add(rs.getString(name));
        return values;
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/quarry";
        try (Connection conn = DriverManager.getConnection(url, "alice", "")) {
            try (Statement st = conn.createStatement()) {
                st.execute("CREATE TABLE gold.orders AS SELECT * FROM (VALUES "
                    + "(1, 'bolt', CAST(2.50 AS DECIMAL(10,2)), DATE '2024-02-29', TIMESTAMP '2024-03-01 12:30:00', true)"
                    + ") AS v(id, name, price, day, at, ok)");
            }

            DatabaseMetaData meta = conn.getMetaData();
            check(meta.getDatabaseProductName().equals("PostgreSQL"), meta.getDatabaseProductName());
            List<String> schemas = column(meta.getSchemas(), "TABLE_SCHEM");
            check(schemas.containsAll(List.of("bronze", "silver", "gold", "public")), "schemas " + schemas);
            List<String> tables = column(meta.getTables(null, "gold", "%", new String[] {"TABLE"}), "TABLE_NAME");
            check(tables.equals(List.of("orders")), "tables " + tables);
            List<String> columns = new ArrayList<>();
            try (ResultSet rs = meta.getColumns(null, "gold", "orders", "%")) {
                while (rs.next()) columns.add(rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME"));
            }
            check(columns.equals(List.of("id int8", "name text", "price numeric", "day date",
                "at timestamp", "ok bool")), "columns " + columns);

            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT id, name, price, day, at, ok FROM gold.orders WHERE id = ? AND name = ?")) {
                ps.setLong(1, 1);
                ps.setString(2, "bolt");
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "one row");
                    check(rs.getLong("id") == 1, "id");
                    check(rs.getBigDecimal("price").compareTo(new BigDecimal("2.50")) == 0, "price");
                    check(rs.getDate("day").toString().equals("2024-02-29"), "day " + rs.getDate("day"));
                    check(rs.getTimestamp("at").toString().equals("2024-03-01 12:30:00.0"), "at " + rs.getTimestamp("at"));
                    check(rs.getBoolean("ok"), "ok");
                    check(!rs.next(), "only one row");
                }
            }

            // Values sent as parameters come back as they went.
            try (PreparedStatement ps = conn.prepareStatement("SELECT ?, ?, ?, ?, ?")) {
                ps.setTimestamp(1, Timestamp.valueOf("2024-05-06 07:08:09.5"));
                ps.setBigDecimal(2, new BigDecimal("12.345"));
                ps.setDate(3, java.sql.Date.valueOf("2023-12-31"));
                ps.setBoolean(4, true);
                ps.setNull(5, Types.INTEGER);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "one row");
                    check(rs.getTimestamp(1).equals(Timestamp.valueOf("2024-05-06 07:08:09.5")), "timestamp " + rs.getTimestamp(1));
                    check(rs.getBigDecimal(2).compareTo(new BigDecimal("12.345")) == 0, "numeric " + rs.getBigDecimal(2));
                    check(rs.getDate(3).toString().equals("2023-12-31"), "date " + rs.getDate(3));
                    check(rs.getBoolean(4), "boolean");
                    rs.getInt(5);
                    check(rs.wasNull(), "null");
                }
            }

            // Parameters in an INSERT, with autocommit off as BI tools run.
            conn.setAutoCommit(false);
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO gold.orders (id, name) VALUES (?, ?)")) {
                ps.setInt(1, 2);
                ps.setString(2, "nut");
                check(ps.executeUpdate() == 1, "one row inserted");
            }
            conn.commit();
            conn.setAutoCommit(true);
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM gold.orders")) {
                check(rs.next() && rs.getLong(1) == 2, "two rows");
            }

            try (Statement st = conn.createStatement()) {
                st.executeQuery("SELECT * FROM gold.nope");
                check(false, "a missing table must fail");
            } catch (SQLException e) {
                check("42P01".equals(e.getSQLState()), "SQLSTATE " + e.getSQLState());
            }
        }
        System.out.println("pgJDBC: ok");
    }
}
