/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The HiLink parsers on canned Huawei and ZTE documents: the real layouts,
 * error documents, missing and empty fields, units, garbage.
 */
#include "config.h"

#define _GNU_SOURCE /* unshare() */

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <libsoup/soup.h>

#include "pf-modem-hilink.h"

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

static const char signal_e3372h[] = XML_HEAD
  "<response>\n"
  "<pci>283</pci>\n<sc></sc>\n<cell_id>28519937</cell_id>\n"
  "<rsrq>-9.0dB</rsrq>\n<rsrp>-95dBm</rsrp>\n<rssi>-67dBm</rssi>\n<sinr>12dB</sinr>\n"
  "<rscp></rscp>\n<ecio></ecio>\n<mode>7</mode>\n"
  "<ulbandwidth>20MHz</ulbandwidth>\n<dlbandwidth>20MHz</dlbandwidth>\n"
  "<txpower>PPusch:7dBm PPucch:-4dBm PSrs:0dBm PPrach:-6dBm</txpower>\n"
  "<earfcn>DL:6300 UL:24300</earfcn>\n<band>20</band>\n<plmn>20801</plmn>\n"
  "</response>\n";

static const char status_e3372h[] = XML_HEAD
  "<response>\n"
  "<ConnectionStatus>901</ConnectionStatus>\n<WifiConnectionStatus></WifiConnectionStatus>\n"
  "<SignalStrength></SignalStrength>\n<SignalIcon>4</SignalIcon>\n"
  "<CurrentNetworkType>19</CurrentNetworkType>\n<CurrentServiceDomain>3</CurrentServiceDomain>\n"
  "<RoamingStatus>0</RoamingStatus>\n<BatteryStatus></BatteryStatus>\n"
  "<simlockStatus>0</simlockStatus>\n<PrimaryDns>80.10.246.2</PrimaryDns>\n"
  "<ServiceStatus>2</ServiceStatus>\n<SimStatus>1</SimStatus>\n<WifiStatus></WifiStatus>\n"
  "<CurrentNetworkTypeEx>101</CurrentNetworkTypeEx>\n<maxsignal>5</maxsignal>\n"
  "<classify>hilink</classify>\n<flymode>0</flymode>\n"
  "</response>\n";

static const char plmn_e3372h[] = XML_HEAD
  "<response>\n<State>0</State>\n<FullName>Orange F</FullName>\n<ShortName>Orange</ShortName>\n"
  "<Numeric>20801</Numeric>\n<Rat>7</Rat>\n<Spn>Sosh</Spn>\n</response>\n";

static const char traffic_e3372h[] = XML_HEAD
  "<response>\n<CurrentConnectTime>3600</CurrentConnectTime>\n<CurrentUpload>123456</CurrentUpload>\n"
  "<CurrentDownload>654321</CurrentDownload>\n<CurrentDownloadRate>0</CurrentDownloadRate>\n"
  "<CurrentUploadRate>0</CurrentUploadRate>\n<TotalUpload>98765432</TotalUpload>\n"
  "<TotalDownload>9876543210</TotalDownload>\n<TotalConnectTime>864000</TotalConnectTime>\n"
  "<showtraffic>1</showtraffic>\n</response>\n";

static const char information_e3372h[] = XML_HEAD
  "<response>\n<DeviceName>E3372</DeviceName>\n<SerialNumber>G4PDW16A23000042</SerialNumber>\n"
  "<Imei>866000000000042</Imei>\n<Imsi>208010000000042</Imsi>\n<Iccid>8933010000000000042</Iccid>\n"
  "<Msisdn></Msisdn>\n<HardwareVersion>CL2E3372HM</HardwareVersion>\n"
  "<SoftwareVersion>22.328.62.00.1217</SoftwareVersion>\n<ProductFamily>LTE</ProductFamily>\n"
  "<Classify>hilink</Classify>\n<workmode>LTE</workmode>\n</response>\n";

static const char session_e3372h[] = XML_HEAD
  "<response>\n<SesInfo>SessionID=abcdef0123456789</SesInfo>\n"
  "<TokInfo>0123456789abcdef0123456789abcdef</TokInfo>\n</response>\n";

static char *
error_document (guint code)
{
  return g_strdup_printf (XML_HEAD "<error>\n<code>%u</code>\n<message></message>\n</error>\n", code);
}

static void
test_level (void)
{
  g_assert_cmpfloat (pf_hilink_parse_level ("-95dBm"), ==, -95.0);
  g_assert_cmpfloat (pf_hilink_parse_level ("-9.0dB"), ==, -9.0);
  g_assert_cmpfloat (pf_hilink_parse_level ("-10.5dB"), ==, -10.5);
  g_assert_cmpfloat (pf_hilink_parse_level ("12dB"), ==, 12.0);
  g_assert_cmpfloat (pf_hilink_parse_level (">=-51dBm"), ==, -51.0);
  g_assert_cmpfloat (pf_hilink_parse_level ("<=-113dBm"), ==, -113.0);
  g_assert_cmpfloat (pf_hilink_parse_level ("-95"), ==, -95.0);
  g_assert_cmpfloat (pf_hilink_parse_level (" -95 dBm"), ==, -95.0);
  g_assert_true (isnan (pf_hilink_parse_level ("")));
  g_assert_true (isnan (pf_hilink_parse_level (NULL)));
  g_assert_true (isnan (pf_hilink_parse_level ("dBm")));
  g_assert_true (isnan (pf_hilink_parse_level ("-95mW")));
  g_assert_true (isnan (pf_hilink_parse_level ("unknown")));
  g_assert_true (isnan (pf_hilink_parse_level ("nan")));
  g_assert_true (isnan (pf_hilink_parse_level ("inf")));
}

static void
test_network_type (void)
{
  g_assert_cmpstr (pf_hilink_huawei_network_type (19), ==, "lte");
  g_assert_cmpstr (pf_hilink_huawei_network_type (101), ==, "lte");
  g_assert_cmpstr (pf_hilink_huawei_network_type (41), ==, "umts");
  g_assert_cmpstr (pf_hilink_huawei_network_type (46), ==, "hspa-plus");
  g_assert_cmpstr (pf_hilink_huawei_network_type (3), ==, "edge");
  g_assert_cmpstr (pf_hilink_huawei_network_type (0), ==, "");
  g_assert_cmpstr (pf_hilink_huawei_network_type (9999), ==, "");
}

static void
test_session (void)
{
  g_autofree char *cookie = NULL;
  g_autofree char *token = NULL;
  g_autofree char *cookie2 = NULL;
  g_autofree char *token2 = NULL;
  g_autoptr(GError) error = NULL;
  const char *bare = "<response><SesInfo>xyz</SesInfo><TokInfo>t</TokInfo></response>";

  g_assert_true (pf_hilink_parse_huawei_session (session_e3372h, -1, &cookie, &token, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (cookie, ==, "SessionID=abcdef0123456789");
  g_assert_cmpstr (token, ==, "0123456789abcdef0123456789abcdef");

  g_assert_true (pf_hilink_parse_huawei_session (bare, -1, &cookie2, &token2, &error));
  g_assert_cmpstr (cookie2, ==, "SessionID=xyz");

  g_assert_false (pf_hilink_parse_huawei_session ("<response><SesInfo>x</SesInfo></response>", -1,
                                                  &cookie2, &token2, &error));
  g_assert_error (error, PF_HILINK_ERROR, PF_HILINK_ERROR_GARBAGE);
}

static void
test_huawei_full (void)
{
  g_autoptr(PfModemInfo) info = pf_modem_info_new ();
  g_autoptr(GError) error = NULL;

  /* In the order of a poll. */
  g_assert_true (pf_hilink_parse_huawei_information (information_e3372h, -1, info, &error));
  g_assert_true (pf_hilink_parse_huawei_status (status_e3372h, -1, info, &error));
  g_assert_true (pf_hilink_parse_huawei_signal (signal_e3372h, -1, info, &error));
  g_assert_true (pf_hilink_parse_huawei_plmn (plmn_e3372h, -1, info, &error));
  g_assert_true (pf_hilink_parse_huawei_traffic (traffic_e3372h, -1, info, &error));
  g_assert_no_error (error);

  g_assert_cmpstr (info->model, ==, "Huawei E3372");
  g_assert_cmpstr (info->iccid, ==, "8933010000000000042");
  g_assert_cmpstr (info->imsi, ==, "208010000000042");
  g_assert_cmpstr (info->state, ==, "connected");
  g_assert_cmpstr (info->failed_reason, ==, "");
  g_assert_cmpstr (info->access_technology, ==, "lte");
  g_assert_cmpint (info->signal_quality, ==, 80);
  g_assert_cmpfloat (info->rssi, ==, -67.0);
  g_assert_cmpfloat (info->rsrp, ==, -95.0);
  g_assert_cmpfloat (info->rsrq, ==, -9.0);
  g_assert_cmpfloat (info->sinr, ==, 12.0);
  g_assert_cmpstr (info->registration, ==, "home");
  g_assert_cmpstr (info->operator_name, ==, "Orange F");
  g_assert_cmpstr (info->operator_code, ==, "20801");
  g_assert_cmpstr (info->sim_operator, ==, "Sosh");
  g_assert_cmpstr (info->sim_state, ==, "ok");
  g_assert_cmpuint (info->rx_bytes, ==, 654321);
  g_assert_cmpuint (info->tx_bytes, ==, 123456);
}

static void
test_huawei_status_states (void)
{
  static const struct {
    const char *doc;
    const char *state, *registration, *sim_state, *failed_reason, *tech;
  } cases[] = {
    { "<ConnectionStatus>900</ConnectionStatus><ServiceStatus>2</ServiceStatus><SimStatus>1</SimStatus>",
      "connecting", "home", "ok", "", "" },
    { "<ConnectionStatus>902</ConnectionStatus><ServiceStatus>2</ServiceStatus><RoamingStatus>1</RoamingStatus>"
      "<CurrentNetworkType>4</CurrentNetworkType>",
      "registered", "roaming", "", "", "umts" },
    { "<ConnectionStatus>902</ConnectionStatus><ServiceStatus>0</ServiceStatus><CurrentNetworkTypeEx>0</CurrentNetworkTypeEx>",
      "searching", "searching", "", "", "" },
    { "<ConnectionStatus>903</ConnectionStatus><ServiceStatus>2</ServiceStatus>",
      "disconnecting", "home", "", "", "" },
    { "<ConnectionStatus>112</ConnectionStatus><ServiceStatus>1</ServiceStatus>",
      "searching", "denied", "", "", "" },
    { "<ConnectionStatus>902</ConnectionStatus><ServiceStatus>1</ServiceStatus><SimStatus>255</SimStatus>",
      "failed", "denied", "missing", "sim-missing", "" },
    { "<ConnectionStatus>902</ConnectionStatus><SimStatus>4</SimStatus>",
      "failed", "unknown", "error", "sim-error", "" },
    /* No ServiceStatus: a network type means attached. */
    { "<ConnectionStatus>902</ConnectionStatus><CurrentNetworkType>19</CurrentNetworkType>",
      "registered", "home", "", "", "lte" },
    /* Nothing known. */
    { "<SignalIcon></SignalIcon>", "", "unknown", "", "", "" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(PfModemInfo) info = pf_modem_info_new ();
      g_autoptr(GError) error = NULL;
      g_autofree char *doc = g_strconcat (XML_HEAD "<response>", cases[i].doc, "</response>", NULL);

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, cases[i].doc);
      g_assert_true (pf_hilink_parse_huawei_status (doc, -1, info, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (info->state, ==, cases[i].state);
      g_assert_cmpstr (info->registration, ==, cases[i].registration);
      g_assert_cmpstr (info->sim_state, ==, cases[i].sim_state);
      g_assert_cmpstr (info->failed_reason, ==, cases[i].failed_reason);
      g_assert_cmpstr (info->access_technology, ==, cases[i].tech);
    }
}

static void
test_huawei_signal_quality (void)
{
  g_autoptr(PfModemInfo) info = pf_modem_info_new ();
  g_autoptr(PfModemInfo) info2 = pf_modem_info_new ();
  g_autoptr(PfModemInfo) info3 = pf_modem_info_new ();
  g_autoptr(GError) error = NULL;

  /* Bars out of maxsignal. */
  g_assert_true (pf_hilink_parse_huawei_status ("<response><SignalIcon>3</SignalIcon><maxsignal>5</maxsignal></response>",
                                                -1, info, &error));
  g_assert_cmpint (info->signal_quality, ==, 60);
  /* The firmware's percentage when there is no icon. */
  g_assert_true (pf_hilink_parse_huawei_status ("<response><SignalStrength>77</SignalStrength></response>",
                                                -1, info2, &error));
  g_assert_cmpint (info2->signal_quality, ==, 77);
  /* From RSSI when the status said nothing: -113 dBm 0 %, -51 dBm 100 %. */
  g_assert_true (pf_hilink_parse_huawei_signal ("<response><rssi>&gt;=-51dBm</rssi><mode>2</mode></response>",
                                                -1, info3, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (info3->rssi, ==, -51.0);
  g_assert_cmpint (info3->signal_quality, ==, 100);
  g_assert_cmpstr (info3->access_technology, ==, "umts");
  g_assert_true (isnan (info3->rsrp));
  g_assert_true (isnan (info3->rsrq));
  g_assert_true (isnan (info3->sinr));
}

static void
test_huawei_missing_fields (void)
{
  g_autoptr(PfModemInfo) info = pf_modem_info_new ();
  g_autoptr(GError) error = NULL;

  /* 3G: the LTE fields are empty; fields may be absent altogether. */
  g_assert_true (pf_hilink_parse_huawei_signal (XML_HEAD "<response><rsrq></rsrq><rsrp></rsrp>"
                                                "<rssi>-71dBm</rssi></response>", -1, info, &error));
  g_assert_no_error (error);
  g_assert_true (isnan (info->rsrp));
  g_assert_true (isnan (info->rsrq));
  g_assert_true (isnan (info->sinr));
  g_assert_cmpfloat (info->rssi, ==, -71.0);

  g_assert_true (pf_hilink_parse_huawei_traffic ("<response></response>", -1, info, &error));
  g_assert_cmpuint (info->rx_bytes, ==, 0);
  g_assert_cmpuint (info->tx_bytes, ==, 0);

  /* No operator: registration stays unknown. */
  g_assert_true (pf_hilink_parse_huawei_plmn ("<response><State></State><FullName></FullName>"
                                              "<Numeric></Numeric></response>", -1, info, &error));
  g_assert_cmpstr (info->operator_name, ==, "");
  g_assert_cmpstr (info->registration, ==, "unknown");

  /* ShortName when FullName is empty; an operator means registered. */
  g_assert_true (pf_hilink_parse_huawei_plmn ("<response><FullName></FullName><ShortName>SFR</ShortName>"
                                              "<Numeric>20810</Numeric></response>", -1, info, &error));
  g_assert_cmpstr (info->operator_name, ==, "SFR");
  g_assert_cmpstr (info->registration, ==, "home");
  g_assert_cmpstr (info->state, ==, "registered");

  /* Nested elements are skipped, not mistaken for fields. */
  g_assert_true (pf_hilink_parse_huawei_information ("<response><Info><DeviceName>X</DeviceName></Info>"
                                                     "<DeviceName>E8372</DeviceName></response>",
                                                     -1, info, &error));
  g_assert_cmpstr (info->model, ==, "Huawei E8372");
  g_assert_cmpstr (info->iccid, ==, "");
}

static void
test_huawei_errors (void)
{
  static const struct { guint code; PfHilinkError kind; const char *message; } cases[] = {
    { 125001, PF_HILINK_ERROR_TOKEN, "API error 125001 (token or session rejected)" },
    { 125002, PF_HILINK_ERROR_TOKEN, "API error 125002 (token or session rejected)" },
    { 125003, PF_HILINK_ERROR_TOKEN, "API error 125003 (token or session rejected)" },
    { 108003, PF_HILINK_ERROR_LOGIN_REQUIRED, "API error 108003 (login required)" },
    { 100003, PF_HILINK_ERROR_LOGIN_REQUIRED, "API error 100003 (login required)" },
    { 100002, PF_HILINK_ERROR_NOT_SUPPORTED, "API error 100002 (not supported)" },
    { 100005, PF_HILINK_ERROR_API, "API error 100005" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(PfModemInfo) info = pf_modem_info_new ();
      g_autoptr(PfModemInfo) empty = pf_modem_info_new ();
      g_autoptr(GError) error = NULL;
      g_autofree char *doc = error_document (cases[i].code);
      g_autofree char *cookie = NULL;
      g_autofree char *token = NULL;

      g_assert_false (pf_hilink_parse_huawei_signal (doc, -1, info, &error));
      g_assert_error (error, PF_HILINK_ERROR, (gint) cases[i].kind);
      g_assert_cmpstr (error->message, ==, cases[i].message);
      g_clear_error (&error);
      g_assert_false (pf_hilink_parse_huawei_status (doc, -1, info, &error));
      g_assert_error (error, PF_HILINK_ERROR, (gint) cases[i].kind);
      g_clear_error (&error);
      g_assert_false (pf_hilink_parse_huawei_session (doc, -1, &cookie, &token, &error));
      g_assert_error (error, PF_HILINK_ERROR, (gint) cases[i].kind);
      g_assert_null (cookie);
      /* Nothing touched. */
      g_assert_true (pf_modem_info_equal (info, empty));
    }
}

static void
test_huawei_garbage (void)
{
  static const struct { const char *doc; gssize len; } cases[] = {
    { "", 0 },
    { "   \n", -1 },
    { "<html><body>Captive portal</body></html>", -1 },
    { "<response><rssi>-67dBm</rsrp></response>", -1 },
    { "<response><rssi>-67dBm</rssi>", -1 },
    { "{\"signalbar\":\"4\"}", -1 },
    { "<error><message>no code</message></error>", -1 },
    { "<error><code>abc</code></error>", -1 },
    { "<response></response><response></response>", -1 },
    { "<response><rssi>\xff\xfe</rssi></response>", -1 },
    { "<response>\0<rssi>-67dBm</rssi></response>", 40 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(PfModemInfo) info = pf_modem_info_new ();
      g_autoptr(GError) error = NULL;

      g_test_message ("case %" G_GSIZE_FORMAT, i);
      g_assert_false (pf_hilink_parse_huawei_signal (cases[i].doc, cases[i].len, info, &error));
      g_assert_error (error, PF_HILINK_ERROR, PF_HILINK_ERROR_GARBAGE);
      g_assert_true (g_str_has_prefix (error->message, "garbage: "));
      g_assert_cmpuint (g_utf8_strlen (error->message, -1), <=, 9 + 80);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      g_assert_true (isnan (info->rssi));
    }
}

static void
test_garbage_hides_private_data (void)
{
  g_autoptr(PfModemInfo) info = pf_modem_info_new ();
  g_autoptr(GError) error = NULL;
  /* Broken information document: the message must not quote it. */
  const char *doc = "<response><Iccid>8933010000000000042</Iccid><Imsi>208010000000042</Imsi";

  g_assert_false (pf_hilink_parse_huawei_information (doc, -1, info, &error));
  g_assert_error (error, PF_HILINK_ERROR, PF_HILINK_ERROR_GARBAGE);
  g_assert_null (strstr (error->message, "8933010000000000042"));
  g_assert_null (strstr (error->message, "208010000000042"));
  g_assert_cmpstr (info->iccid, ==, "");
}

static const char zte_mf79u[] =
  "{\"modem_main_state\":\"modem_init_complete\",\"signalbar\":\"4\",\"network_type\":\"LTE\","
  "\"lte_rsrp\":\"-95\",\"lte_rsrq\":\"-9\",\"lte_snr\":\"12.5\",\"lte_rssi\":\"-67\",\"rssi\":\"\","
  "\"ppp_status\":\"ppp_connected\",\"network_provider\":\"Orange F\",\"rmcc\":\"208\",\"rmnc\":\"1\","
  "\"simcard_roam\":\"Home\",\"realtime_tx_bytes\":\"123456\",\"realtime_rx_bytes\":\"654321\","
  "\"model_name\":\"MF79U\",\"sim_iccid\":\"8933010000000000042\",\"sim_imsi\":\"208010000000042\"}";

static void
test_zte (void)
{
  g_autoptr(PfModemInfo) info = pf_modem_info_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (pf_hilink_parse_zte (zte_mf79u, -1, info, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (info->model, ==, "ZTE MF79U");
  g_assert_cmpstr (info->state, ==, "connected");
  g_assert_cmpstr (info->access_technology, ==, "lte");
  g_assert_cmpint (info->signal_quality, ==, 80);
  g_assert_cmpfloat (info->rsrp, ==, -95.0);
  g_assert_cmpfloat (info->rsrq, ==, -9.0);
  g_assert_cmpfloat (info->sinr, ==, 12.5);
  g_assert_cmpfloat (info->rssi, ==, -67.0);
  g_assert_cmpstr (info->registration, ==, "home");
  g_assert_cmpstr (info->operator_name, ==, "Orange F");
  g_assert_cmpstr (info->operator_code, ==, "20801");
  g_assert_cmpstr (info->sim_state, ==, "ok");
  g_assert_cmpuint (info->rx_bytes, ==, 654321);
  g_assert_cmpuint (info->tx_bytes, ==, 123456);
  g_assert_cmpstr (info->iccid, ==, "8933010000000000042");
  g_assert_cmpstr (info->imsi, ==, "208010000000042");
}

static void
test_zte_states (void)
{
  static const struct {
    const char *json;
    const char *state, *registration, *sim_state, *tech;
  } cases[] = {
    { "{\"modem_main_state\":\"modem_sim_undetected\",\"network_type\":\"NO_SERVICE\",\"ppp_status\":\"ppp_disconnected\"}",
      "failed", "searching", "missing", "" },
    { "{\"modem_main_state\":\"modem_waitpin\",\"network_type\":\"\",\"ppp_status\":\"ppp_disconnected\"}",
      "locked", "unknown", "locked", "" },
    { "{\"modem_main_state\":\"modem_init_complete\",\"network_type\":\"WCDMA\",\"ppp_status\":\"ppp_disconnected\",\"simcard_roam\":\"International\"}",
      "registered", "roaming", "ok", "umts" },
    { "{\"modem_main_state\":\"modem_init_complete\",\"network_type\":\"Limited Service\",\"ppp_status\":\"ppp_disconnected\"}",
      "searching", "denied", "ok", "" },
    { "{\"modem_main_state\":\"modem_init_complete\",\"network_type\":\"HSPA+\",\"ppp_status\":\"ppp_connecting\"}",
      "connecting", "home", "ok", "hspa-plus" },
    { "{\"modem_main_state\":\"modem_init_complete\",\"network_type\":\"ENDC\",\"ppp_status\":\"ipv4_ipv6_connected\"}",
      "connected", "home", "ok", "5gnr" },
    /* Numbers instead of strings, empty values. */
    { "{\"signalbar\":3,\"lte_rsrp\":\"\",\"network_type\":\"LTE\"}",
      "registered", "home", "", "lte" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(PfModemInfo) info = pf_modem_info_new ();
      g_autoptr(GError) error = NULL;

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, cases[i].json);
      g_assert_true (pf_hilink_parse_zte (cases[i].json, -1, info, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (info->state, ==, cases[i].state);
      g_assert_cmpstr (info->registration, ==, cases[i].registration);
      g_assert_cmpstr (info->sim_state, ==, cases[i].sim_state);
      g_assert_cmpstr (info->access_technology, ==, cases[i].tech);
      g_assert_true (isnan (info->rsrp));
      if (i == G_N_ELEMENTS (cases) - 1)
        g_assert_cmpint (info->signal_quality, ==, 60);
    }
}

static void
test_zte_garbage (void)
{
  static const char *const cases[] = {
    "", "not json", "[1,2,3]", "\"string\"", "{}", "{\"result\":\"failure\"}",
    "{\"signalbar\": ", "<html></html>",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(PfModemInfo) info = pf_modem_info_new ();
      g_autoptr(PfModemInfo) empty = pf_modem_info_new ();
      g_autoptr(GError) error = NULL;

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, cases[i]);
      g_assert_false (pf_hilink_parse_zte (cases[i], -1, info, &error));
      g_assert_error (error, PF_HILINK_ERROR, PF_HILINK_ERROR_GARBAGE);
      g_assert_true (g_str_has_prefix (error->message, "garbage: "));
      g_assert_true (pf_modem_info_equal (info, empty));
    }
}

static void
test_new (void)
{
  g_autoptr(PfModem) modem = pf_modem_hilink_new ("http://192.168.8.1/", "enx001e101f0000", 0);
  const PfModemInfo *info;

  g_assert_true (PF_IS_MODEM_HILINK (modem));
  g_assert_cmpstr (pf_modem_get_source (modem), ==, "hilink");
  g_assert_cmpstr (pf_modem_hilink_get_flavour (PF_MODEM_HILINK (modem)), ==, "");
  info = pf_modem_get_info (modem);
  g_assert_false (info->present);
  g_assert_cmpint (info->signal_quality, ==, -1);
  /* Start and stop without a main loop iteration: nothing sent, nothing leaks. */
  pf_modem_start (modem);
  pf_modem_stop (modem);
}

/* The source itself, against an in-process stick (SoupServer on loopback,
 * in a network namespace of our own when root). */

static gboolean have_netns;

typedef struct {
  SoupServer *server;
  char       *url;
  gboolean    hang;        /* pause every message, never answer */
  guint       requests;
  GPtrArray  *paused;
  PfModem    *modem;
  guint       changes;
  GMainLoop  *loop;
} Fixture;

static void
stick_cb (SoupServer        *server,
          SoupServerMessage *msg,
          const char        *path,
          GHashTable        *query,
          gpointer           user_data)
{
  Fixture *fx = user_data;
  const char *doc = NULL;

  fx->requests++;
  if (fx->hang)
    {
      soup_server_message_pause (msg);
      g_ptr_array_add (fx->paused, g_object_ref (msg));
      return;
    }

  if (g_str_equal (path, "/api/webserver/SesTokInfo"))
    doc = session_e3372h;
  else if (g_str_equal (path, "/api/device/signal"))
    doc = signal_e3372h;
  else if (g_str_equal (path, "/api/monitoring/status"))
    doc = status_e3372h;
  else if (g_str_equal (path, "/api/net/current-plmn"))
    doc = plmn_e3372h;
  else if (g_str_equal (path, "/api/monitoring/traffic-statistics"))
    doc = traffic_e3372h;
  else if (g_str_equal (path, "/api/device/information"))
    doc = information_e3372h;

  if (doc == NULL)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
      return;
    }
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/html", SOUP_MEMORY_STATIC, doc, strlen (doc));
}

static void
fixture_setup (Fixture       *fx,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  GSList *uris;

  fx->loop = g_main_loop_new (NULL, FALSE);
  fx->paused = g_ptr_array_new_with_free_func (g_object_unref);
  fx->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (fx->server, NULL, stick_cb, fx, NULL);
  g_assert_true (soup_server_listen_local (fx->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (fx->server);
  fx->url = g_strdup_printf ("http://127.0.0.1:%d", g_uri_get_port (uris->data));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
}

static void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data)
{
  g_clear_object (&fx->modem);
  g_ptr_array_unref (fx->paused);
  soup_server_disconnect (fx->server);
  g_object_unref (fx->server);
  g_main_loop_unref (fx->loop);
  g_free (fx->url);
}

static void
changed_cb (PfModem  *modem,
            gpointer  user_data)
{
  Fixture *fx = user_data;

  fx->changes++;
  g_main_loop_quit (fx->loop);
}

static gboolean
quit_cb (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

static void
run_for (Fixture *fx,
         guint    ms)
{
  guint id = g_timeout_add (ms, quit_cb, fx->loop);

  g_main_loop_run (fx->loop);
  g_source_remove (id);
}

static void
test_source_poll (Fixture       *fx,
                  gconstpointer  data)
{
  const PfModemInfo *info;
  guint timeout_id;

  /* Bound to lo where we may (the namespace is ours). */
  fx->modem = pf_modem_hilink_new (fx->url, have_netns ? "lo" : NULL, 60);
  g_signal_connect (fx->modem, "changed", G_CALLBACK (changed_cb), fx);
  pf_modem_start (fx->modem);
  timeout_id = g_timeout_add_seconds (10, quit_cb, fx->loop);
  g_main_loop_run (fx->loop);
  g_source_remove (timeout_id);

  g_assert_cmpuint (fx->changes, ==, 1);
  g_assert_cmpstr (pf_modem_hilink_get_flavour (PF_MODEM_HILINK (fx->modem)), ==, "huawei");
  info = pf_modem_get_info (fx->modem);
  g_assert_true (info->present);
  g_assert_cmpstr (info->error, ==, "");
  g_assert_cmpstr (info->model, ==, "Huawei E3372");
  g_assert_cmpstr (info->state, ==, "connected");
  g_assert_cmpstr (info->iccid, ==, "8933010000000000042");
  g_assert_cmpfloat (info->rsrp, ==, -95.0);
  g_assert_cmpuint (info->rx_bytes, ==, 654321);
  /* One request at a time: session, information, four documents. */
  g_assert_cmpuint (fx->requests, ==, 6);
  pf_modem_stop (fx->modem);
}

static void
test_source_stop_in_flight (Fixture       *fx,
                            gconstpointer  data)
{
  PfModem *weak;

  fx->hang = TRUE;
  fx->modem = pf_modem_hilink_new (fx->url, NULL, 60);
  g_signal_connect (fx->modem, "changed", G_CALLBACK (changed_cb), fx);
  pf_modem_start (fx->modem);
  while (fx->requests == 0)
    g_main_context_iteration (NULL, TRUE);

  /* Stopped with the request in flight: nothing reported, nothing sent. */
  pf_modem_stop (fx->modem);
  run_for (fx, 300);
  g_assert_cmpuint (fx->changes, ==, 0);
  g_assert_cmpuint (fx->requests, ==, 1);

  /* Started again, then dropped with a request in flight: finalized. */
  pf_modem_start (fx->modem);
  while (fx->requests == 1)
    g_main_context_iteration (NULL, TRUE);
  weak = fx->modem;
  g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
  g_clear_object (&fx->modem);
  for (guint i = 0; i < 100 && weak != NULL; i++)
    g_main_context_iteration (NULL, FALSE), g_usleep (1000);
  g_assert_null (weak);
  g_assert_cmpuint (fx->changes, ==, 0);
}

static void
test_source_bind_error (Fixture       *fx,
                        gconstpointer  data)
{
  const PfModemInfo *info;
  guint timeout_id;

  /* An interface that does not exist: never connected unbound. */
  fx->modem = pf_modem_hilink_new (fx->url, "pf-nosuch0", 60);
  g_signal_connect (fx->modem, "changed", G_CALLBACK (changed_cb), fx);
  g_test_expect_message ("pvefailover-hilink", G_LOG_LEVEL_WARNING,
                         "*telemetry failed: bind to pf-nosuch0: *");
  pf_modem_start (fx->modem);
  timeout_id = g_timeout_add_seconds (10, quit_cb, fx->loop);
  g_main_loop_run (fx->loop);
  g_source_remove (timeout_id);
  g_test_assert_expected_messages ();

  info = pf_modem_get_info (fx->modem);
  g_assert_false (info->present);
  g_assert_true (g_str_has_prefix (info->error, "bind to pf-nosuch0: "));
  g_assert_cmpuint (fx->requests, ==, 0);
  pf_modem_stop (fx->modem);
}

static gboolean
loopback_up (void)
{
  struct ifreq ifr = { 0 };
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  gboolean ok;

  if (fd < 0)
    return FALSE;
  g_strlcpy (ifr.ifr_name, "lo", sizeof ifr.ifr_name);
  ok = ioctl (fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  ok = ok && ioctl (fd, SIOCSIFFLAGS, &ifr) == 0;
  close (fd);
  return ok;
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  /* As root, the in-process stick lives in a namespace of our own. */
  if (geteuid () == 0)
    {
      if (unshare (CLONE_NEWNET) == 0 && loopback_up ())
        have_netns = TRUE;
      else
        g_printerr ("test-hilink: private network namespace: %s\n", g_strerror (errno));
    }

  g_test_add_func ("/hilink/level", test_level);
  g_test_add_func ("/hilink/network-type", test_network_type);
  g_test_add_func ("/hilink/huawei/session", test_session);
  g_test_add_func ("/hilink/huawei/full", test_huawei_full);
  g_test_add_func ("/hilink/huawei/status-states", test_huawei_status_states);
  g_test_add_func ("/hilink/huawei/signal-quality", test_huawei_signal_quality);
  g_test_add_func ("/hilink/huawei/missing-fields", test_huawei_missing_fields);
  g_test_add_func ("/hilink/huawei/errors", test_huawei_errors);
  g_test_add_func ("/hilink/huawei/garbage", test_huawei_garbage);
  g_test_add_func ("/hilink/huawei/garbage-hides-private-data", test_garbage_hides_private_data);
  g_test_add_func ("/hilink/zte/full", test_zte);
  g_test_add_func ("/hilink/zte/states", test_zte_states);
  g_test_add_func ("/hilink/zte/garbage", test_zte_garbage);
  g_test_add_func ("/hilink/new", test_new);
  g_test_add ("/hilink/source/poll", Fixture, NULL, fixture_setup, test_source_poll, fixture_teardown);
  g_test_add ("/hilink/source/stop-in-flight", Fixture, NULL, fixture_setup,
              test_source_stop_in_flight, fixture_teardown);
  g_test_add ("/hilink/source/bind-error", Fixture, NULL, fixture_setup,
              test_source_bind_error, fixture_teardown);

  return g_test_run ();
}
