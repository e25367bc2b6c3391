"""Name, street and city lists for the large-data generator (`generate_customers`).

Order matters: both name lists are ranked, most frequent first, and the generator gives
rank r a weight of 1 / (r + offset), a Zipf-like curve close to real name frequencies.
"Karen" sits at a rank that gives it about 0.4 % of customers (some 4,400 in 1,000,000):
the seed procedure's search, and the hardest one for the index, since thousands match.
"""


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _words("""
James Mary Michael Patricia John Jennifer Robert Linda David Elizabeth William Barbara
Richard Susan Joseph Jessica Thomas Sarah Christopher Marie Charles Nancy Daniel Lisa
Matthew Betty Anthony Sandra Mark Ashley Donald Emily Steven Kimberly Andrew Donna Paul
Michelle Joshua Carol Kenneth Amanda Kevin Melissa Brian Deborah George Stephanie Timothy
Rebecca Ronald Sharon Jason Laura Edward Cynthia Jeffrey Dorothy Ryan Amy Jacob Kathleen
Gary Angela Nicholas Shirley Eric Karen Jonathan Brenda Stephen Emma Larry Anna Justin
Pamela Scott Nicole Brandon Samantha Benjamin Katherine Samuel Christine Gregory Helen
Alexander Debra Patrick Rachel Frank Carolyn Raymond Janet Jack Maria Dennis Catherine
Jerry Heather Tyler Diane Aaron Olivia Jose Julie Adam Joyce Nathan Victoria Henry Ruth
Zachary Virginia Douglas Lauren Peter Kelly Kyle Christina Noah Joan Ethan Evelyn Jeremy
Judith Walter Andrea Christian Hannah Keith Megan Roger Cheryl Terry Jacqueline Austin
Martha Sean Madison Gerald Teresa Carl Gloria Harold Sara Dylan Janice Arthur Ann Lawrence
Kathryn Jordan Abigail Jesse Sophia Bryan Frances Billy Jean Bruce Alice Gabriel Judy
Logan Isabella Alan Julia Juan Grace Albert Amber Willie Denise Elijah Danielle Randy
Marilyn Wayne Beverly Vincent Charlotte Mason Natalie Roy Theresa Ralph Diana Bobby Brittany
Russell Doris Bradley Kayla Philip Alexis Eugene Lori Louis Tiffany Harry Kathy Howard
Camille Jean-Pierre Nathalie Philippe Isabelle Nicolas Sylvie Laurent Valérie Sébastien
Sandrine Julien Céline Mathieu Aurélie Guillaume Élodie François Hélène Jérôme Chloé
Thierry Manon Olivier Léa Antoine Margaux Benoît Pauline Gilles Amélie Yves Mathilde
Amira Omar Fatima Youssef Layla Karim Wei Mei Hiroshi Yuki Raj Priya Arjun Ananya Sven
Ingrid Lars Astrid Mateo Lucía Diego Sofía Alejandro Valentina Pablo Carmen Dmitri Olga
Ivan Natalia Kofi Ama Chidi Ngozi Tariq Leila Kenji Aiko Soren Freya Marco Giulia
Lorenzo Chiara Hamid Zainab Tomasz Agnieszka Karenna Joaquín Renée Noël
""")

LAST_NAMES = _words("""
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips
Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook
Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward
Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez
Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan
Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan
Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant
Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison
Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker
Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason
Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox
Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan
Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos
Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews
Alvarado Ray Delgado Berry Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis
Carpenter Lawrence Sandoval Guerrero George Chapman Rios Estrada Ortega Watkins Greene
Nunez Wheeler Valdez Harper Burke Larson Santiago Maldonado Morrison Franklin Carlson
Austin Dominguez Carr Lawson Jacobs Obrien Lynch Singh Vega Bishop Montgomery Oliver
Jensen Harvey Williamson Gilbert Dean Sims Espinoza Howell Li Wong Reid Hanson Le McCoy
Garrett Burton Fuller Wang Weber Welch Rojas Lucas Marquez Fields Park Yang Little Banks
Padilla Day Walsh Bowman Schultz Luna Fowler Mejia Davidson Acosta Brewer May Holland Juarez
Newman Pearson Curtis Cortez Douglas Schneider Joseph Barrett Navarro Figueroa Keller
Dubois Lefebvre Moreau Laurent Simon Michel Leroy Roux Fournier Girard Bonnet Dupont
Lambert Fontaine Rousseau Vincent Muller Faure Mercier Blanc Guerin Boyer Garnier Chevalier
Tremblay Gagnon Roy Côté Bouchard Gauthier Morin Lavoie Fortin Gagné Ouellet Pelletier
Bélanger Lévesque Bergeron Leblanc Paquette Girouard Haddad Khoury Nasser Mansour Saleh
Tanaka Suzuki Takahashi Watanabe Yamamoto Nakamura Kobayashi Sato Ito Kato Zhang Liu
Huang Zhao Wu Zhou Sun Ma Zhu Kumar Sharma Gupta Reddy Rao Iyer Nair Das Bose Mehta
Kowalski Nowak Wiśniewski Novak Horvat Petrov Ivanov Popescu Rossi Russo Ferrari Esposito
Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti Costa Berg Holm Lindqvist
Johansson Karlsson Nilsson Eriksson Larsson Olsen Nielsen Pedersen Andersen Okafor
Mensah Diallo Traore Mwangi Okonkwo Adeyemi Boateng
""")

# Rarer surnames are composed from a root and an ending ("Lindgren", "Ashworth"): a long
# tail of about 10,000 names with some 40 customers each per million, as in a real
# customer base, where no single fragment ("roch", "elm") starts thousands of surnames.
SURNAME_ROOTS = _words("""
Ash Black Bright Brook Brad Cald Chad Clay Cran Dal Dun Elm Fair Fern Gold Green Hal
Hart Hay Holt Kings Lang Lind Mar Mill Nor Oak Pen Ply Rad Red Ros Ruther Sand Stan
Stock Thorn Wal Wes Whit Win Wood Ber Dahl Ek Fors Hag Hed Sjö Ström Wik Alm Björ
Kar Mal Nyl Sund Vik Van Der Mac Fitz Cart Bel Mont Beau Roch Val Char Ab Ack Ad Ain
Ald Ames Ar Arm Ath Bab Bam Bar Bax Bed Bing Bram Bres Brig Bro Bur Cal Cam Cap Cav
Cheth Chis Cul Cum Dar Dav Den Dor Dray Dud Eg Eld Els Em Eng Ev Fal Far Fen Fin Flem
Fol Gar Gil Glad Gos Gra Grim Had Ham Hask Hel Hen Her Hol Hum Hux Ing Ire Jar Kel
Ken Kil Kirk Lam Lan Leigh Lev Lock Lud Lyn Man Mat Mer Mid Mor Nash Ned Nel Net Orm
Os Ot Pad Pag Par Pem Pick Quen Rains Rath Rick Rip Rom Rush Sal Sed Shel Sher Sil
Sked Stil Sud Tal Tam Ted Tem Thur Tib Tol Tren Tur Up Ver Wad War Wen Wil Wy
""")
SURNAME_ENDINGS = _words("""
gren quist berg strom ford worth ley ton wick field well more wood land by dale stead
ham shaw croft burn mann stein feld baum haus ner ovich enko escu etti ard eau ier
bridge brook combe cott den don hall hurst ington lock low mere mond rick rige sby
thorpe ville wald wright
""")

EMAIL_DOMAINS = _words("""
example.com example.org example.net mail.example.com inbox.example mailbox.example.fr
courriel.example.ca post.example.co.uk
""")

STREET_NAMES = _words("""
Main Oak Pine Maple Cedar Elm Washington Lake Hill Park Sunset Ridge River Church Spring
Highland Forest Meadow Willow Jefferson Lincoln Madison Franklin Adams Jackson Walnut
Chestnut Market Union Mill Bridge Harbor Valley Cherry Birch Aspen Grove Center Broad
""")
STREET_KINDS = ["Street", "Avenue", "Road", "Boulevard", "Lane", "Drive", "Court", "Way"]
FRENCH_STREETS = [
    "rue des Lilas",
    "rue de la Paix",
    "avenue Victor-Hugo",
    "boulevard Saint-Michel",
    "rue Sainte-Catherine",
    "chemin du Lac",
    "rue Principale",
    "avenue des Pins",
]

# city, state or province, postal code prefix, country, phone prefix (country and area)
US_CITIES = [
    ("Seattle", "WA", "981", "US", "+1 206"),
    ("Bellevue", "WA", "980", "US", "+1 425"),
    ("Portland", "OR", "972", "US", "+1 503"),
    ("San Francisco", "CA", "941", "US", "+1 415"),
    ("Los Angeles", "CA", "900", "US", "+1 213"),
    ("San Diego", "CA", "921", "US", "+1 619"),
    ("Phoenix", "AZ", "850", "US", "+1 602"),
    ("Denver", "CO", "802", "US", "+1 303"),
    ("Dallas", "TX", "752", "US", "+1 214"),
    ("Austin", "TX", "787", "US", "+1 512"),
    ("Houston", "TX", "770", "US", "+1 713"),
    ("Chicago", "IL", "606", "US", "+1 312"),
    ("Minneapolis", "MN", "554", "US", "+1 612"),
    ("Detroit", "MI", "482", "US", "+1 313"),
    ("Atlanta", "GA", "303", "US", "+1 404"),
    ("Miami", "FL", "331", "US", "+1 305"),
    ("Boston", "MA", "021", "US", "+1 617"),
    ("New York", "NY", "100", "US", "+1 212"),
    ("Philadelphia", "PA", "191", "US", "+1 215"),
    ("Washington", "DC", "200", "US", "+1 202"),
    ("Nashville", "TN", "372", "US", "+1 615"),
    ("Columbus", "OH", "432", "US", "+1 614"),
    ("Salt Lake City", "UT", "841", "US", "+1 801"),
    ("Kansas City", "MO", "641", "US", "+1 816"),
]
FRENCH_CITIES = [
    ("Montréal", "QC", "H2X", "CA", "+1 514"),
    ("Québec", "QC", "G1R", "CA", "+1 418"),
    ("Gatineau", "QC", "J8X", "CA", "+1 819"),
    ("Paris", "", "750", "FR", "+33 1"),
    ("Lyon", "", "690", "FR", "+33 4"),
    ("Marseille", "", "130", "FR", "+33 4"),
    ("Bordeaux", "", "330", "FR", "+33 5"),
    ("Lille", "", "590", "FR", "+33 3"),
    ("Nantes", "", "440", "FR", "+33 2"),
]
