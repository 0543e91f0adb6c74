// The sessions of the JDBC tools on Quarry's PostgreSQL door, replayed with pgJDBC (which
// they all use), each checked for the rows the tool needs:
//
// - Metabase (its PostgreSQL driver): the connect settings, the schema list, the table
//   list with privileges and row estimates, the fields of a table, foreign keys;
// - DBeaver: its connect and navigator queries (schemas, types, tables, keywords);
// - Tableau (PostgreSQL over JDBC): DatabaseMetaData, its temporary-table probe, and a
//   query with a LIMIT it sends to read a table's columns.
//
// The queries are the tools' own, as their sources and captured sessions show them.
//
// Usage: java -cp postgresql.jar:DIR BiSessions PORT   (the server holds gold.sales and
// the view gold.paris_sales: bi_sessions.py makes them)

import java.sql.*;
import java.util.*;

public class BiSessions {
    static void expect(String what, Object got, Object wanted) {
        if (!got.equals(wanted)) throw new AssertionError(what + ": got " + got + ", wanted " + wanted);
        System.out.println("ok   " + what);
    }

    /** Every row of `sql` run with `params` bound, each as its columns' text joined with '|'. */
    static List<String> rows(Connection conn, String sql, Object... params) throws SQLException {
        List<String> rows = new ArrayList<>();
        try (PreparedStatement st = conn.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) st.setObject(i + 1, params[i]);
            try (ResultSet rs = st.executeQuery()) {
                int n = rs.getMetaData().getColumnCount();
                while (rs.next()) {
                    StringBuilder row = new StringBuilder();
                    for (int i = 1; i <= n; i++) row.append(i > 1 ? "|" : "").append(rs.getString(i));
                    rows.add(row.toString());
                }
            }
        }
        return rows;
    }

    static void run(Connection conn, String sql) throws SQLException {
        try (Statement st = conn.createStatement()) {
            st.execute(sql);
        }
    }

    static void metabase(String url) throws SQLException {
        try (Connection conn = DriverManager.getConnection(url, "metabase", "")) {
            run(conn, "SET extra_float_digits = 2");
            run(conn, "SET application_name = 'Metabase v0.55.1 [f8f63fdf-d8f8-4573-86ea-4fe4a9548041]'");
            expect("metabase: isolation level", rows(conn, "SHOW TRANSACTION ISOLATION LEVEL").size(), 1);
            run(conn, "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED");
            List<String> schemas = rows(conn,
                "SELECT nspname AS \"TABLE_SCHEM\", current_database() AS \"TABLE_CATALOG\" FROM pg_catalog.pg_namespace "
                + " WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1])"
                + " AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))"
                + "  ORDER BY \"TABLE_SCHEM\"");
            check(schemas.contains("gold|quarry"), "metabase: schemas " + schemas);
            List<String> privileges = rows(conn, "with table_privileges as (\n"
                + " select NULL as role, t.schemaname as schema, t.objectname as table,\n"
                + "   pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'update') as update,\n"
                + "   pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'select') as select,\n"
                + "   pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'insert') as insert,\n"
                + "   pg_catalog.has_table_privilege(     current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'delete') as delete\n"
                + " from (\n"
                + "   select schemaname, tablename as objectname from pg_catalog.pg_tables\n"
                + "   union\n"
                + "   select schemaname, viewname as objectname from pg_catalog.pg_views\n"
                + "   union\n"
                + "   select schemaname, matviewname as objectname from pg_catalog.pg_matviews\n"
                + " ) t\n"
                + " where t.schemaname !~ '^pg_'\n"
                + "   and t.schemaname <> 'information_schema'\n"
                + "   and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')\n"
                + ")\n"
                + "select t.* from table_privileges t where t.schema = 'gold' order by t.table");
            expect("metabase: table privileges", privileges,
                List.of("null|gold|paris_sales|t|t|t|t", "null|gold|sales|t|t|t|t"));
            List<String> tables = rows(conn,
                "SELECT \"n\".\"nspname\" AS \"schema\", \"c\".\"relname\" AS \"name\", CASE \"c\".\"relkind\" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS \"type\", \"d\".\"description\" AS \"description\", \"stat\".\"n_live_tup\" AS \"estimated_row_count\" "
                + "FROM \"pg_catalog\".\"pg_class\" AS \"c\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"n\" ON \"c\".\"relnamespace\" = \"n\".\"oid\" "
                + "LEFT JOIN \"pg_catalog\".\"pg_description\" AS \"d\" ON (\"c\".\"oid\" = \"d\".\"objoid\") AND (\"d\".\"objsubid\" = '0') AND (\"d\".\"classoid\" = 'pg_class'::regclass) "
                + "LEFT JOIN \"pg_stat_user_tables\" AS \"stat\" ON (\"n\".\"nspname\" = \"stat\".\"schemaname\") AND (\"c\".\"relname\" = \"stat\".\"relname\") "
                + "WHERE (\"c\".\"relnamespace\" = \"n\".\"oid\") AND (\"n\".\"nspname\" !~ '^pg_') AND (\"n\".\"nspname\" <> 'information_schema') AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND (\"n\".\"nspname\" IN ('gold')) "
                + "ORDER BY \"type\" ASC, \"schema\" ASC, \"name\" ASC");
            expect("metabase: tables with row estimates", tables,
                List.of("gold|sales|TABLE|null|4", "gold|paris_sales|VIEW|null|null"));
            List<String> fields = rows(conn, METABASE_FIELDS, "gold", "sales", "gold", "sales");
            expect("metabase: fields of gold.sales", fields, List.of(
                "id|int8|0|gold|sales|f|null|f|f",
                "sold_at|timestamp|1|gold|sales|f|null|f|f",
                "store|text|2|gold|sales|f|null|f|f",
                "amount|float8|3|gold|sales|f|null|f|f"));
            expect("metabase: foreign keys", rows(conn, METABASE_FKS, "sales", "gold"), List.of());
            expect("metabase: enum types", rows(conn,
                "SELECT nspname, typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                + "WHERE t.oid IN (SELECT DISTINCT enumtypid FROM pg_enum e)"), List.of());
            run(conn, "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED");
            expect("metabase: time zone", rows(conn, "show timezone"), List.of("UTC"));
        }
    }

    // Metabase's describe-fields for PostgreSQL (src/metabase/driver/postgres.clj,
    // describe-fields-sql), for one table: schema and table bound twice.
    static final String METABASE_FIELDS =
        "SELECT \"c\".\"column_name\" AS \"name\", CASE WHEN \"c\".\"udt_schema\" IN ('public', 'pg_catalog') THEN FORMAT('%s', \"c\".\"udt_name\") ELSE FORMAT('\"%s\".\"%s\"', \"c\".\"udt_schema\", \"c\".\"udt_name\") END AS \"database-type\", "
        + "\"c\".\"ordinal_position\" - 1 AS \"database-position\", \"c\".\"table_schema\" AS \"table-schema\", \"c\".\"table_name\" AS \"table-name\", \"pk\".\"column_name\" IS NOT NULL AS \"pk?\", "
        + "COL_DESCRIPTION(CAST(CAST(FORMAT('%I.%I', CAST(\"c\".\"table_schema\" AS TEXT), CAST(\"c\".\"table_name\" AS TEXT)) AS REGCLASS) AS OID), \"c\".\"ordinal_position\") AS \"field-comment\", "
        + "((\"column_default\" IS NULL) OR (LOWER(\"column_default\") = 'null')) AND (\"is_nullable\" = 'NO') AND NOT (((\"column_default\" IS NOT NULL) AND (\"column_default\" LIKE '%nextval(%')) OR (\"is_identity\" <> 'NO')) AS \"database-required\", "
        + "((\"column_default\" IS NOT NULL) AND (\"column_default\" LIKE '%nextval(%')) OR (\"is_identity\" <> 'NO') AS \"database-is-auto-increment\" "
        + "FROM \"information_schema\".\"columns\" AS \"c\" LEFT JOIN (SELECT \"tc\".\"table_schema\", \"tc\".\"table_name\", \"kc\".\"column_name\" FROM \"information_schema\".\"table_constraints\" AS \"tc\" "
        + "INNER JOIN \"information_schema\".\"key_column_usage\" AS \"kc\" ON (\"tc\".\"constraint_name\" = \"kc\".\"constraint_name\") AND (\"tc\".\"table_schema\" = \"kc\".\"table_schema\") AND (\"tc\".\"table_name\" = \"kc\".\"table_name\") "
        + "WHERE \"tc\".\"constraint_type\" = 'PRIMARY KEY') AS \"pk\" ON (\"c\".\"table_schema\" = \"pk\".\"table_schema\") AND (\"c\".\"table_name\" = \"pk\".\"table_name\") AND (\"c\".\"column_name\" = \"pk\".\"column_name\") "
        + "WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND (\"c\".\"table_schema\" IN (?)) AND (\"c\".\"table_name\" IN (?)) "
        + "UNION ALL SELECT \"pa\".\"attname\" AS \"name\", CASE WHEN \"ptn\".\"nspname\" IN ('public', 'pg_catalog') THEN FORMAT('%s', \"pt\".\"typname\") ELSE FORMAT('\"%s\".\"%s\"', \"ptn\".\"nspname\", \"pt\".\"typname\") END AS \"database-type\", "
        + "\"pa\".\"attnum\" - 1 AS \"database-position\", \"pn\".\"nspname\" AS \"table-schema\", \"pc\".\"relname\" AS \"table-name\", FALSE AS \"pk?\", NULL AS \"field-comment\", FALSE AS \"database-required\", FALSE AS \"database-is-auto-increment\" "
        + "FROM \"pg_catalog\".\"pg_class\" AS \"pc\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"pn\" ON \"pn\".\"oid\" = \"pc\".\"relnamespace\" INNER JOIN \"pg_catalog\".\"pg_attribute\" AS \"pa\" ON \"pa\".\"attrelid\" = \"pc\".\"oid\" "
        + "INNER JOIN \"pg_catalog\".\"pg_type\" AS \"pt\" ON \"pt\".\"oid\" = \"pa\".\"atttypid\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"ptn\" ON \"ptn\".\"oid\" = \"pt\".\"typnamespace\" "
        + "WHERE (\"pc\".\"relkind\" = 'm') AND (\"pa\".\"attnum\" >= 1) AND (\"pn\".\"nspname\" IN (?)) AND (\"pc\".\"relname\" IN (?)) "
        + "ORDER BY \"table-schema\" ASC, \"table-name\" ASC, \"database-position\" ASC";

    // Metabase's describe-fks for PostgreSQL (describe-fks-sql), for one table: table
    // and schema bound.
    static final String METABASE_FKS =
        "SELECT \"fk_ns\".\"nspname\" AS \"fk-table-schema\", \"fk_table\".\"relname\" AS \"fk-table-name\", \"fk_column\".\"attname\" AS \"fk-column-name\", "
        + "\"pk_ns\".\"nspname\" AS \"pk-table-schema\", \"pk_table\".\"relname\" AS \"pk-table-name\", \"pk_column\".\"attname\" AS \"pk-column-name\" "
        + "FROM \"pg_constraint\" AS \"c\" INNER JOIN \"pg_class\" AS \"fk_table\" ON \"c\".\"conrelid\" = \"fk_table\".\"oid\" INNER JOIN \"pg_namespace\" AS \"fk_ns\" ON \"c\".\"connamespace\" = \"fk_ns\".\"oid\" "
        + "INNER JOIN \"pg_attribute\" AS \"fk_column\" ON \"c\".\"conrelid\" = \"fk_column\".\"attrelid\" INNER JOIN \"pg_class\" AS \"pk_table\" ON \"c\".\"confrelid\" = \"pk_table\".\"oid\" "
        + "INNER JOIN \"pg_namespace\" AS \"pk_ns\" ON \"pk_table\".\"relnamespace\" = \"pk_ns\".\"oid\" INNER JOIN \"pg_attribute\" AS \"pk_column\" ON \"c\".\"confrelid\" = \"pk_column\".\"attrelid\" "
        + "WHERE fk_ns.nspname !~ '^information_schema|catalog_history|pg_' AND (\"c\".\"contype\" = 'f'::char) AND (\"fk_column\".\"attnum\" = ANY(c.conkey)) AND (\"pk_column\".\"attnum\" = ANY(c.confkey)) "
        + "AND (\"fk_table\".\"relname\" IN (?)) AND (\"fk_ns\".\"nspname\" IN (?)) ORDER BY \"fk-table-schema\" ASC, \"fk-table-name\" ASC";

    static void dbeaver(String url) throws SQLException {
        try (Connection conn = DriverManager.getConnection(url, "dbeaver", "")) {
            run(conn, "SET extra_float_digits = 3");
            run(conn, "SET application_name = 'DBeaver 25.1.5 - Main <quarry>'");
            expect("dbeaver: current schema and user", rows(conn, "SELECT current_schema(),session_user"),
                List.of("public|dbeaver"));
            List<String> schemas = rows(conn,
                "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d "
                + "ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass ORDER BY nspname");
            check(schemas.stream().anyMatch(s -> s.contains("|gold|")), "dbeaver: schemas " + schemas);
            expect("dbeaver: the array type probe", rows(conn,
                "SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid "
                + "  FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r "
                + "          from pg_namespace as ns "
                + "          join ( select s.r, (current_schemas(false))[s.r] as nspname "
                + "                   from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r "
                + "         using ( nspname ) "
                + "       ) as sp     ON sp.nspoid = typnamespace  WHERE pg_type.oid = 1009  ORDER BY sp.r, pg_type.oid DESC"),
                List.of("t|b|_text|1009"));
            expect("dbeaver: search_path", rows(conn, "SHOW search_path").size(), 1);
            expect("dbeaver: the database", rows(conn,
                "SELECT db.oid,db.datname FROM pg_catalog.pg_database db WHERE datname='quarry'").size(), 1);
            expect("dbeaver: standard_conforming_strings", rows(conn,
                "SELECT setting FROM pg_catalog.pg_settings where name='standard_conforming_strings'"), List.of("on"));
            List<String> relations = rows(conn,
                "SELECT c.oid,c.relname,c.relkind,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr, "
                + " pg_catalog.pg_get_partkeydef(c.oid) as partition_key "
                + "FROM pg_catalog.pg_class c "
                + "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass "
                + "WHERE c.relnamespace=(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'gold') AND c.relkind not in ('i','I','c') "
                + "ORDER BY c.relname");
            expect("dbeaver: the relations of gold", relations.stream().map(r -> r.split("\\|", 2)[1]).toList(),
                List.of("paris_sales|v|null|null|null", "sales|r|null|null|null"));
            expect("dbeaver: relation sizes", rows(conn,
                "select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,pg_catalog.pg_relation_size(c.oid) as rel_size "
                + "FROM pg_class c WHERE c.relnamespace=(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'gold') AND c.relkind = 'r'").size(), 1);
            expect("dbeaver: keywords", rows(conn,
                "SELECT string_agg(word, ',' ) from pg_catalog.pg_get_keywords() where word <> ALL ('{a,abs,absolute}'::text[])").size(), 1);
        }
    }

    static void tableau(String url) throws SQLException {
        try (Connection conn = DriverManager.getConnection(url, "tableau", "")) {
            DatabaseMetaData meta = conn.getMetaData();
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = meta.getTables(null, "gold", "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME") + " " + rs.getString("TABLE_TYPE"));
            }
            expect("tableau: tables and views of gold", tables, List.of("sales TABLE", "paris_sales VIEW"));
            // Whether it may keep extracts' helper tables: a temporary table made and dropped.
            run(conn, "CREATE LOCAL TEMPORARY TABLE \"#Tableau_7_1_Connect\" (\"COL\" INTEGER) ON COMMIT PRESERVE ROWS");
            run(conn, "DROP TABLE \"#Tableau_7_1_Connect\"");
            System.out.println("ok   tableau: a temporary table made and dropped");
            try (Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT * FROM \"gold\".\"sales\" \"sales\" LIMIT 1")) {
                ResultSetMetaData columns = rs.getMetaData();
                List<String> names = new ArrayList<>();
                for (int i = 1; i <= columns.getColumnCount(); i++)
                    names.add(columns.getColumnName(i) + " " + columns.getColumnTypeName(i));
                expect("tableau: the columns of gold.sales", names,
                    List.of("id int8", "sold_at timestamp", "store text", "amount float8"));
            }
            expect("tableau: an aggregate", rows(conn,
                "SELECT \"sales\".\"store\" AS \"store\", SUM(\"sales\".\"amount\") AS \"sum:amount:ok\" "
                + "FROM \"gold\".\"sales\" \"sales\" GROUP BY 1 ORDER BY 1"),
                List.of("lyon|7.25", "nice|40.0", "paris|15.5"));
        }
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/quarry";
        metabase(url);
        dbeaver(url);
        tableau(url);
        System.out.println("BiSessions: all passed");
    }
}
